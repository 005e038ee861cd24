"""Traces and logs: one trace per job, across the HTTP request, the queue and every
attempt; log records that carry the job id and trace id.

- **Spans**: the HTTP request (``functions/endpoint.py``), the enqueue (a producer span
  whose context travels in the message's ``traceparent`` and ``Diagnostic-Id``
  application properties), each attempt's run (a consumer span whose parent comes from
  those properties) and each provider call. A job's ``trace_id`` is the id of the
  trace its submit request started, so every attempt, retry and requeue of it lands in
  that one trace.
- **Export**: nowhere unless configured. With ``APPLICATIONINSIGHTS_CONNECTION_STRING``
  ``azure-monitor-opentelemetry`` exports traces, metrics and logs to Application
  Insights. With ``DTQ_TRACES_DIR`` each process appends its finished spans as JSON
  lines to ``spans-<pid>.jsonl`` there (the local host; ``dtq trace JOB_ID`` reads them).
  Without a provider the OpenTelemetry API is a no-op, and trace ids still flow.
- **Logs**: a filter adds ``job_id`` and ``trace_id`` to every record made while a job
  is being handled; ``DTQ_LOG_FORMAT=json`` writes one JSON object per record.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.settings_groups import Telemetry

tracer = trace.get_tracer("dtq")
_propagator = TraceContextTextMapPropagator()
_job_id: ContextVar[str | None] = ContextVar("dtq_job_id", default=None)
_configured = threading.Lock()
_done = False


# --- trace context ------------------------------------------------------------------
def current_trace_id() -> str | None:
    """The active span's trace id (32 hex digits), if there is a valid one."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def context_from(traceparent: str | None) -> otel_context.Context | None:
    """The context a W3C ``traceparent`` names, or None if it names none."""
    if not traceparent:
        return None
    ctx = _propagator.extract({"traceparent": traceparent})
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def start_span_in_trace(
    name: str, trace_id: str, *, kind: trace.SpanKind, attributes: dict[str, Any] | None = None
) -> trace.Span:
    """A span (not made current) in the job's trace ``trace_id``: a child of the active
    span when that is in the same trace, else of a context in that trace, linked to the
    active span (a requeue made by a later request still lands in the job's trace)."""
    current = trace.get_current_span().get_span_context()
    if current.is_valid and format(current.trace_id, "032x") == trace_id:
        return tracer.start_span(name, kind=kind, attributes=attributes)
    parent = context_from(f"00-{trace_id}-{secrets.token_hex(8)}-01")
    links = [trace.Link(current)] if current.is_valid else None
    return tracer.start_span(name, context=parent, kind=kind, attributes=attributes, links=links)


@contextmanager
def span_in_trace(
    name: str, trace_id: str, *, kind: trace.SpanKind, attributes: dict[str, Any] | None = None
) -> Iterator[trace.Span]:
    """:func:`start_span_in_trace`, made current for the block, recording an exception."""
    span = start_span_in_trace(name, trace_id, kind=kind, attributes=attributes)
    with trace.use_span(
        span, end_on_exit=True, record_exception=True, set_status_on_exception=True
    ):
        yield span


def enqueue_attributes(job: Any, queue_name: str, attempt: int = 1) -> dict[str, Any]:
    """Attributes of a span that sends (or runs) one attempt of ``job``."""
    return {
        "messaging.system": "servicebus",
        "messaging.destination.name": queue_name,
        "messaging.message.id": f"{job.job_id}.{attempt}",
        "dtq.job_id": job.job_id,
        "dtq.job_type": job.job_type,
        "dtq.tenant_id": job.tenant_id,
        "dtq.attempt": attempt,
    }


@contextmanager
def job_context(job_id: str) -> Iterator[None]:
    """Log records made inside carry this job id (and the active trace id)."""
    token = _job_id.set(job_id)
    try:
        yield
    finally:
        _job_id.reset(token)


# --- logs ------------------------------------------------------------------------------
class LogContext(logging.Filter):
    """Adds ``job_id`` and ``trace_id`` to each record (an explicit ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job_id", None) is None:
            record.job_id = _job_id.get()
        if getattr(record, "trace_id", None) is None:
            record.trace_id = current_trace_id()
        return True


def add_log_context() -> None:
    """Put job_id and trace_id on records of every logger: a filter on the root
    *logger* sees only the root's own records, so it goes on each root handler (the
    exporter's, and the Functions worker's)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, LogContext) for f in handler.filters):
            handler.addFilter(LogContext())


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s [%(process)d] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        job_id, trace_id = getattr(record, "job_id", None), getattr(record, "trace_id", None)
        if job_id or trace_id:
            line += f" [job={job_id or '-'} trace={trace_id or '-'}]"
        return line


def configure_logging(level: str, fmt: str = "text") -> None:
    """Root logging for the local host's processes: text for people, or JSON lines."""
    handler = logging.StreamHandler()
    handler.addFilter(LogContext())
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The Azure SDKs log every HTTP request at INFO.
    logging.getLogger("azure").setLevel(max(logging.WARNING, root.level))


# --- export ------------------------------------------------------------------------------
#: Milliseconds a local host's process keeps finished spans before writing them.
LOCAL_SPANS_DELAY_MS = 500


def configure(settings: Telemetry, *, span_processors: Sequence[Any] = ()) -> None:
    """Set this process's tracer and meter providers, once, from the telemetry settings."""
    global _done
    with _configured:
        if _done:
            return
        _done = True
        from opentelemetry.sdk.trace import TracerProvider

        if isinstance(trace.get_tracer_provider(), TracerProvider):
            # Configured already (e.g. by the Functions Python worker when
            # PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY is set): a second exporter
            # would send everything twice.
            return
        if settings.applicationinsights_connection_string:
            # Raises without a connection string: only here. Exports traces, metrics
            # and logs; the Functions host's own telemetry mode is OpenTelemetry too
            # (host.json), so nothing is sent twice.
            from azure.monitor.opentelemetry import configure_azure_monitor

            configure_azure_monitor(
                connection_string=settings.applicationinsights_connection_string,
                span_processors=list(span_processors),
            )
            add_log_context()
            return
        processors = list(span_processors)
        if settings.traces_dir is not None:
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            from shared.traces import JsonLinesExporter

            # Written within half a second (the SDK's default is 5 s), so `dtq trace` run
            # just after a job ends finds it; OTEL_BSP_SCHEDULE_DELAY still wins.
            delay = float(os.environ.get("OTEL_BSP_SCHEDULE_DELAY") or LOCAL_SPANS_DELAY_MS)
            processors.append(
                BatchSpanProcessor(
                    JsonLinesExporter(settings.traces_dir), schedule_delay_millis=delay
                )
            )
        if processors:
            from opentelemetry.sdk.resources import Resource

            provider = TracerProvider(resource=Resource.create({"service.name": "dtq"}))
            for processor in processors:
                provider.add_span_processor(processor)
            trace.set_tracer_provider(provider)


def flush() -> None:
    """Write out finished spans (before a process exits)."""
    provider = trace.get_tracer_provider()
    force_flush = getattr(provider, "force_flush", None)
    if force_flush is not None:
        force_flush()
