"""Job types, the handler context, queue messages and the retry policy."""

from __future__ import annotations

import dataclasses
import json
import random
import time
from typing import Any

import pytest
from pydantic import BaseModel

from shared.constants import PROP_DIAGNOSTIC_ID, PROP_TRACEPARENT
from shared.errors import ValidationFailed
from shared.jobtypes import JobContext, JobTypeRegistry, default_registry
from shared.jobtypes.builtin import SimulatePayload, simulate
from shared.jobtypes.errors import JobCancelled, JobTimedOut, PermanentJobError, TransientJobError
from shared.messages import JobMessage
from shared.retries import RetryPolicy


def context(
    attempt: int = 1, deadline: float | None = None, cancel_after: int | None = None
) -> tuple[JobContext, list]:  # type: ignore[type-arg]
    reports: list[tuple[int, str | None]] = []

    async def sink(progress: int, stage: str | None) -> bool:
        reports.append((progress, stage))
        return cancel_after is not None and len(reports) >= cancel_after

    ctx = JobContext(
        job_id="j",
        tenant_id="t",
        job_type="simulate",
        attempt=attempt,
        max_attempts=3,
        trace_id="0" * 32,
        deadline=deadline,
        _sink=sink,
    )
    return ctx, reports


# --- registry ------------------------------------------------------------------


def test_registry_refuses_a_second_type_of_the_same_name() -> None:
    registry = default_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register("echo", BaseModel, simulate)


def test_decorator_registration_and_description() -> None:
    registry = JobTypeRegistry()

    class P(BaseModel):
        n: int

    @registry.job_type("double", P)
    async def double(payload: P, ctx: JobContext) -> int:
        """Doubles n."""
        return payload.n * 2

    described = registry.get("double").describe()
    assert described["description"] == "Doubles n."
    assert described["payload_schema"]["properties"]["n"]["type"] == "integer"
    assert "double" in registry and registry.names() == ["double"]


def test_unknown_type_names_the_valid_ones() -> None:
    with pytest.raises(ValidationFailed) as info:
        default_registry().get("nope")
    assert info.value.errors[0].field == "job_type"
    assert "echo" in info.value.errors[0].message and "simulate" in info.value.errors[0].message


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "payload.duration_ms"),
        ({"duration_ms": -1}, "payload.duration_ms"),
        ({"duration_ms": 1, "steps": 0}, "payload.steps"),
        ({"duration_ms": 1, "fail_first": -1}, "payload.fail_first"),
        ({"duration_ms": 1, "surprise": True}, "payload.surprise"),
        ({"duration_ms": "soon"}, "payload.duration_ms"),
    ],
)
def test_simulate_payload_validation(payload: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationFailed) as info:
        default_registry().get("simulate").parse(payload)
    assert [e.field for e in info.value.errors] == [field]


# --- built-in handlers ---------------------------------------------------------


async def test_echo_returns_its_message() -> None:
    echo = default_registry().get("echo")
    ctx, _ = context()
    assert await echo.handler(echo.parse({"message": "é 中"}), ctx) == {"message": "é 中"}


async def test_simulate_reports_each_step_and_sleeps_its_duration() -> None:
    ctx, reports = context()
    started = time.monotonic()
    result = await simulate(SimulatePayload(duration_ms=200, steps=4), ctx)
    assert time.monotonic() - started >= 0.19
    assert reports == [
        (25, "step 1 of 4"),
        (50, "step 2 of 4"),
        (75, "step 3 of 4"),
        (100, "step 4 of 4"),
    ]
    assert result == {"duration_ms": 200, "steps": 4, "attempt": 1}


@pytest.mark.parametrize(("attempt", "fails"), [(1, True), (2, True), (3, False)])
async def test_simulate_fails_its_first_attempts(attempt: int, fails: bool) -> None:
    ctx, _ = context(attempt=attempt)
    payload = SimulatePayload(duration_ms=0, fail_first=2)
    if fails:
        with pytest.raises(TransientJobError):
            await simulate(payload, ctx)
    else:
        assert (await simulate(payload, ctx))["attempt"] == 3


async def test_simulate_fails_permanently_on_every_attempt() -> None:
    for attempt in (1, 5):
        ctx, _ = context(attempt=attempt)
        with pytest.raises(PermanentJobError):
            await simulate(SimulatePayload(duration_ms=0, fail_permanently=True), ctx)


# --- context -------------------------------------------------------------------


async def test_context_stops_a_cancelled_job_at_its_next_progress_point() -> None:
    ctx, reports = context(cancel_after=2)
    await ctx.report(10, "a")
    with pytest.raises(JobCancelled):
        await ctx.report(20, "b")
    assert ctx.cancelled
    with pytest.raises(JobCancelled):
        ctx.check()
    assert len(reports) == 2


async def test_context_stops_past_its_deadline() -> None:
    ctx, reports = context(deadline=time.monotonic() - 1)
    assert ctx.time_left() is not None and ctx.time_left() < 0  # type: ignore[operator]
    with pytest.raises(JobTimedOut):
        await ctx.report(10)
    assert reports == [], "nothing is written after the deadline"


# --- messages ------------------------------------------------------------------


def test_message_round_trip_with_trace_context() -> None:
    message = JobMessage("j1", "t1", 2, "ab" * 16)
    out = message.outgoing()
    assert out.message_id == "j1.2" != JobMessage("j1", "t1", 3).message_id
    traceparent = str(out.application_properties[PROP_TRACEPARENT])
    assert traceparent.startswith(f"00-{'ab' * 16}-") and traceparent.endswith("-01")
    assert out.application_properties[PROP_DIAGNOSTIC_ID] == traceparent, "for Azure's SDKs"
    received = dataclasses.replace(message, traceparent=traceparent)
    assert JobMessage.decode(out.body, out.application_properties) == received
    as_bytes = {k: str(v).encode() for k, v in out.application_properties.items()}
    assert JobMessage.decode(out.body, as_bytes) == received
    only_azure = {PROP_DIAGNOSTIC_ID: traceparent}
    assert JobMessage.decode(out.body, only_azure).trace_id == "ab" * 16


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (json.dumps({"tenant_id": "t", "attempt": 1}).encode(), "job_id"),
        (json.dumps({"job_id": "j", "attempt": 1}).encode(), "tenant_id"),
        (json.dumps({"job_id": "j", "tenant_id": "t", "attempt": 0}).encode(), "attempt"),
        (json.dumps({"job_id": "j", "tenant_id": "t", "attempt": True}).encode(), "attempt"),
        (json.dumps({"job_id": "j", "tenant_id": "t", "attempt": "1"}).encode(), "attempt"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_malformed_messages_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(ValidationFailed, match=reason):
        JobMessage.decode(body, {})


# --- retry policy --------------------------------------------------------------


def test_backoff_ceiling_doubles_and_caps() -> None:
    policy = RetryPolicy(base_seconds=1, max_seconds=10)
    assert [policy.ceiling(a) for a in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_full_jitter_stays_under_the_ceiling_and_spreads() -> None:
    policy = RetryPolicy(base_seconds=1, max_seconds=60)
    rng = random.Random(7)
    draws = [policy.delay(4, rng=rng) for _ in range(2000)]
    assert all(0 <= d <= 8 for d in draws)
    assert min(draws) < 1 and max(draws) > 7, "uses the whole range"
    assert policy.delay(4, rng=random.Random(1)) == policy.delay(4, rng=random.Random(1))


def test_retry_after_is_a_floor_bounded_by_the_cap() -> None:
    policy = RetryPolicy(base_seconds=0.01, max_seconds=60, retry_after_max_seconds=900)
    assert policy.delay(1, retry_after=5) >= 5
    assert policy.delay(1, retry_after=600) == 600, "a provider's wait beats our own cap"
    assert policy.delay(1, retry_after=7200) == 900


def test_a_jobs_trace_leaves_out_other_jobs_under_the_same_request() -> None:
    from shared.traces import job_trace

    def span(span_id: str, parent: str | None, job: str | None = None) -> dict[str, Any]:
        attributes = {"dtq.job_id": job} if job else {}
        return {
            "span_id": span_id,
            "parent_id": parent,
            "trace_id": "t",
            "start": len(span_id),
            "attributes": attributes,
        }

    spans = [
        span("req", "caller"),  # one request submitted two jobs
        span("enq-a", "req", "a"),
        span("run-a", "enq-a", "a"),
        span("http-a", "run-a"),  # a provider call of job a
        span("enq-b", "req", "b"),
        span("run-b", "enq-b", "b"),
        span("http-b", "run-b"),
    ]
    assert {s["span_id"] for s in job_trace(spans, "a")} == {"req", "enq-a", "run-a", "http-a"}
    assert job_trace(spans, "c") == []
