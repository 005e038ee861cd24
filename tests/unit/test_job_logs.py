"""A job's log (shared/job_logs.py): capped in lines, characters and the status row's
size; ``ctx.log`` buffered by its run and stored with the run's next write, within about
a second, and with the attempt's outcome; kept across retries and requeues."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from shared.job_logs import MAX_LOG_LINE_CHARS, MAX_LOG_LINES, log_line
from shared.jobs import Job, JobState
from shared.jobtypes import JobContext, JobTypeRegistry, default_registry
from shared.jobtypes.errors import PermanentJobError, TransientJobError
from shared.messages import Delivery, JobMessage
from shared.ports import MAX_JOB_UTF16_BYTES, job_json, utf16_bytes
from shared.submissions import Submission
from tests.unit.conftest import Parts

AT = datetime(2026, 1, 2, tzinfo=UTC)

Handler = Callable[[JobContext], Awaitable[Any]]


def a_job(**payload: Any) -> Job:
    return Job.new(tenant_id="t1", job_type="test", payload=payload, max_attempts=3)


def messages(job: Job) -> list[str]:
    return [line.message for line in job.logs]


# --- the record: capped in lines and characters, trimmed to fit its row --------------


def test_a_job_keeps_its_last_lines_each_cut_to_length() -> None:
    job = a_job().with_logs([log_line(f"line {i}", AT) for i in range(150)])
    assert len(job.logs) == MAX_LOG_LINES == 100
    assert messages(job)[0] == "line 50" and messages(job)[-1] == "line 149", "oldest dropped"
    job = job.with_logs([log_line("x" * 2000, AT)])
    assert len(job.logs[-1].message) == MAX_LOG_LINE_CHARS == 500
    assert messages(job)[0] == "line 51"


def test_lines_are_dropped_oldest_first_when_the_job_would_not_fit_its_row() -> None:
    # A payload near the row's limit leaves room for only some of the lines.
    job = a_job(blob="p" * (MAX_JOB_UTF16_BYTES // 2 - 30_000))
    full = job.with_logs([log_line(f"{i:03d} " + "y" * 400, AT) for i in range(100)])
    assert 0 < len(full.logs) < 100
    assert messages(full)[-1].startswith("099 "), "the newest lines are kept"
    assert utf16_bytes(job_json(full)) <= MAX_JOB_UTF16_BYTES
    more = full.with_logs([log_line("the newest", AT)])
    assert messages(more)[-1] == "the newest" and utf16_bytes(job_json(more)) > 0


def test_the_public_body_leaves_the_logs_out() -> None:
    job = a_job().with_logs([log_line("secret-ish detail", AT)])
    assert "logs" not in job.to_public()
    assert Job.model_validate_json(job.model_dump_json()).logs == job.logs, "stored whole"


# --- a run's lines: buffered, stored with its writes --------------------------------


class Empty(BaseModel):
    pass


class Scripted:
    """A job type whose handler each test writes."""

    def __init__(self) -> None:
        self.handler: Handler = lambda ctx: asyncio.sleep(0)

    async def __call__(self, payload: Empty, ctx: JobContext) -> Any:
        return await self.handler(ctx)


@pytest.fixture
def scripted() -> Scripted:
    return Scripted()


@pytest.fixture
def registry(scripted: Scripted) -> JobTypeRegistry:
    registry = default_registry()
    registry.register("test", Empty, scripted)
    return registry


async def run_next(parts: Parts) -> None:
    [message] = await parts.queue.receive(1, max_wait=2)
    await parts.queue.complete(message)
    delivery = Delivery(
        JobMessage.decode(message.body, message.application_properties),
        message.message_id,
        message.delivery_count,
    )
    await parts.worker.handle(delivery)


async def submit(parts: Parts, attempts: int = 1) -> Job:
    return await parts.submissions.submit("t1", Submission("test", {}, attempts))


async def test_a_line_reaches_the_store_within_a_second_without_a_write_per_line(
    parts: Parts, scripted: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await submit(parts)
    writes: list[Job] = []
    replace = parts.status.replace

    async def counted(updated: Job) -> Job:
        writes.append(updated)
        return await replace(updated)

    monkeypatch.setattr(parts.status, "replace", counted)
    seen: dict[str, float] = {}
    done = asyncio.Event()

    async def handler(ctx: JobContext) -> None:
        before = len(writes)
        logged = time.monotonic()
        for i in range(20):
            ctx.log(f"line {i}")
        while (time.monotonic() - logged) < 3:
            stored = await parts.status.get("t1", job.job_id)
            if stored.logs:
                seen["after"] = time.monotonic() - logged
                seen["writes"] = len(writes) - before
                break
            await asyncio.sleep(0.05)
        await done.wait()

    scripted.handler = handler
    running = asyncio.create_task(run_next(parts))
    while "after" not in seen and not running.done():
        await asyncio.sleep(0.05)
    done.set()
    await running
    assert 0.8 <= seen["after"] < 1.6, f"stored {seen['after']:.2f}s after it was logged"
    assert seen["writes"] == 1, "twenty lines, one write"
    stored = await parts.status.get("t1", job.job_id)
    assert messages(stored) == [f"line {i}" for i in range(20)]


async def test_lines_go_with_a_progress_report(parts: Parts, scripted: Scripted) -> None:
    job = await submit(parts)
    seen: list[list[str]] = []

    async def handler(ctx: JobContext) -> None:
        ctx.log("before the report")
        await ctx.report(50, "half")
        seen.append(messages(await parts.status.get("t1", job.job_id)))

    scripted.handler = handler
    await run_next(parts)
    assert seen == [["before the report"]]


async def test_lines_logged_just_before_a_return_or_a_raise_are_in_the_settled_job(
    parts: Parts, scripted: Scripted
) -> None:
    async def returns(ctx: JobContext) -> dict[str, bool]:
        ctx.log("done, returning")
        return {"ok": True}

    scripted.handler = returns
    job = await submit(parts)
    await run_next(parts)
    stored = await parts.status.get("t1", job.job_id)
    assert stored.state is JobState.COMPLETED and messages(stored) == ["done, returning"]

    async def raises(ctx: JobContext) -> None:
        ctx.log(f"attempt {ctx.attempt} about to fail")
        if ctx.attempt == 1:
            raise TransientJobError("once")
        raise PermanentJobError("for good")

    scripted.handler = raises
    job = await submit(parts, attempts=3)
    await run_next(parts)
    retrying = await parts.status.get("t1", job.job_id)
    assert retrying.state is JobState.RETRYING
    assert messages(retrying) == ["attempt 1 about to fail"]
    await run_next(parts)
    failed = await parts.status.get("t1", job.job_id)
    assert failed.state is JobState.FAILED
    assert messages(failed) == ["attempt 1 about to fail", "attempt 2 about to fail"]


async def test_a_requeue_keeps_the_log_and_marks_it(parts: Parts, scripted: Scripted) -> None:
    async def fails(ctx: JobContext) -> None:
        ctx.log(f"attempt {ctx.attempt}")
        raise PermanentJobError("no")

    scripted.handler = fails
    job = await submit(parts)
    await run_next(parts)
    requeued = await parts.dead_letters.requeue("t1", job.job_id)
    assert requeued.state is JobState.QUEUED
    assert messages(requeued) == ["attempt 1", "requeued from the dead-letter queue"]
    await run_next(parts)
    again = await parts.status.get("t1", job.job_id)
    assert messages(again) == ["attempt 1", "requeued from the dead-letter queue", "attempt 2"]


def test_a_context_without_a_run_logs_to_python_logging(caplog: pytest.LogCaptureFixture) -> None:
    async def sink(progress: int, stage: str | None) -> bool:
        return False

    ctx = JobContext("j1", "t1", "test", 1, 1, "0" * 32, None, sink)
    with caplog.at_level("INFO", logger="dtq.jobs"):
        ctx.log("hello")
    assert "job j1: hello" in caplog.text
