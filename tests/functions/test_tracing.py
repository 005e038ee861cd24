"""One trace id across HTTP, queue and worker, seen with OpenTelemetry's in-memory span
exporter: the submit trigger, the message as the Functions host hands it over
(application properties as bytes), the worker trigger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.functions.servicebus import ServiceBusMessage
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from functions import api
from functions.run_job import bp as run_job_bp
from shared.composition import Runtime
from shared.constants import PROP_DIAGNOSTIC_ID, PROP_TRACEPARENT
from tests.support.triggers import as_json, request, user_function

EXPORTER = InMemorySpanExporter()


class Recording(SimpleSpanProcessor):
    """Keeps spans only while a test of this module looks (a process has one tracer
    provider for good, and the other tests need not fill memory)."""

    on = False

    def on_end(self, span: Any) -> None:
        if Recording.on:
            super().on_end(span)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(Recording(EXPORTER))
        trace.set_tracer_provider(provider)
    EXPORTER.clear()
    Recording.on = True
    try:
        yield EXPORTER
    finally:
        Recording.on = False
        EXPORTER.clear()


async def test_the_submit_request_the_message_and_the_run_share_one_trace(
    runtime: Runtime, spans: InMemorySpanExporter
) -> None:
    response = await user_function(api.bp, "submit_job")(
        request("POST", "v1/jobs", {"job_type": "echo", "payload": {"message": "traced"}})
    )
    job = as_json(response)
    [received] = await runtime.queue(runtime.settings.jobs_queue).receive(1, max_wait=1)
    props = received.application_properties
    assert props[PROP_TRACEPARENT] == props[PROP_DIAGNOSTIC_ID]
    assert str(props[PROP_TRACEPARENT]).split("-")[1] == job["trace_id"]
    binding = ServiceBusMessage(
        body=received.body,
        message_id=received.message_id,
        delivery_count=1,
        enqueued_time_utc=datetime.now(UTC),
        application_properties={k: str(v).encode() for k, v in props.items()},
        user_properties={},
    )
    await user_function(run_job_bp, "run_job")(binding)

    finished = {s.name: s for s in spans.get_finished_spans()}
    request_span, enqueue, run = (
        finished["POST submit_job"],
        finished["enqueue echo"],
        finished["run echo"],
    )
    trace_ids = {format(s.context.trace_id, "032x") for s in (request_span, enqueue, run)}
    assert trace_ids == {job["trace_id"]}
    assert enqueue.parent is not None and enqueue.parent.span_id == request_span.context.span_id
    assert run.parent is not None and run.parent.span_id == enqueue.context.span_id
    assert str(props[PROP_TRACEPARENT]).split("-")[2] == format(enqueue.context.span_id, "016x")
    assert run.attributes is not None and run.attributes["dtq.job_id"] == job["job_id"]
    assert request_span.kind is trace.SpanKind.SERVER and run.kind is trace.SpanKind.CONSUMER
