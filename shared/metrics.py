"""What dtq counts and times: jobs submitted, completed, failed, retried and cancelled
by type; run duration and queue wait; provider calls by outcome.

One :class:`Metrics` object records each event twice over:
- into OpenTelemetry instruments, which cost nothing until a meter provider is set
  (in Azure, ``azure-monitor-opentelemetry`` exports them to Application Insights);
- into Prometheus metrics when ``prometheus`` is on (the local host), served at
  ``/api/metrics``. The local host runs several processes, so it uses
  ``prometheus_client``'s multiprocess mode: each process writes its values to files
  in ``PROMETHEUS_MULTIPROC_DIR`` and the web process adds them up on each scrape.

Queue depth and the dead-letter queue are read from the stores when scraped (in Azure
they are Service Bus's own platform metrics).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from opentelemetry import metrics as otel

#: Histogram buckets (seconds): jobs run from milliseconds to the 10-minute limit.
RUN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
PROVIDER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

#: The OpenTelemetry instruments (what Application Insights receives as customMetrics):
#: key -> (kind, name, unit, description).
OTEL_INSTRUMENTS: dict[str, tuple[str, str, str, str]] = {
    "submitted": ("counter", "dtq.jobs.submitted", "{job}", "jobs accepted"),
    "completed": ("counter", "dtq.jobs.completed", "{job}", "jobs completed"),
    "failed": ("counter", "dtq.jobs.failed", "{job}", "jobs failed for good"),
    "retried": ("counter", "dtq.jobs.retried", "{attempt}", "failed attempts to be retried"),
    "cancelled": ("counter", "dtq.jobs.cancelled", "{job}", "jobs cancelled while running"),
    "deferred": ("counter", "dtq.jobs.deferred", "{attempt}", "attempts given back unspent"),
    "run": ("histogram", "dtq.job.run.duration", "s", "one attempt's run time"),
    "wait": ("histogram", "dtq.job.queue.wait", "s", "from due to started (queue wait)"),
    "provider": ("histogram", "dtq.provider.request.duration", "s", "external API calls"),
}

#: Gauges read at scrape time: {name: (help, [(labels, value), ...])}.
Gauges = dict[str, tuple[str, list[tuple[dict[str, str], float]]]]

#: prometheus_client reads its multiprocess folder from this variable, when it is
#: imported: the local host sets it (``prepare_multiprocess``) before that.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir(data_dir: Path) -> Path:
    """The multiprocess folder of the processes sharing ``data_dir``: a folder of that
    data folder's own in RAM (``/dev/shm``, else the system's temp folder), never on the
    data folder's disk. prometheus_client memory-maps sparse files there, and a process
    writing into a mapping that a full disk cannot back is killed by SIGBUS: a full data
    disk must refuse writes (507), not kill the workers (tests/e2e/test_disk_full.py)."""
    ram = Path("/dev/shm")
    base = ram if ram.is_dir() and os.access(ram, os.W_OK) else Path(tempfile.gettempdir())
    folder = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return base / f"dtq-metrics-{os.getuid()}-{folder}"


def prepare_multiprocess(directory: Path, environ: Any, *, clear: bool) -> None:
    """Point prometheus_client's multiprocess mode at ``directory`` (for this process
    and the children it starts); ``clear`` drops an earlier run's values."""
    directory.mkdir(parents=True, exist_ok=True)
    if clear:
        for stale in directory.glob("*.db"):
            stale.unlink(missing_ok=True)
    environ[MULTIPROC_ENV] = str(directory)


class Metrics:
    def __init__(self, *, prometheus: bool = False, multiprocess_dir: Path | None = None):
        meter = otel.get_meter("dtq")
        self._otel: dict[str, Any] = {
            key: (meter.create_counter if kind == "counter" else meter.create_histogram)(
                name, unit, description
            )
            for key, (kind, name, unit, description) in OTEL_INSTRUMENTS.items()
        }
        self.prometheus = _Prometheus(multiprocess_dir) if prometheus else None

    # --- events --------------------------------------------------------------------
    def submitted(self, job_type: str, priority: str) -> None:
        self._otel["submitted"].add(1, {"job_type": job_type, "priority": priority})
        if self.prometheus:
            self.prometheus.submitted.labels(job_type, priority).inc()

    def started(self, job_type: str, priority: str, waited_seconds: float) -> None:
        waited = max(0.0, waited_seconds)
        self._otel["wait"].record(waited, {"job_type": job_type, "priority": priority})
        if self.prometheus:
            self.prometheus.wait.labels(job_type, priority).observe(waited)

    def finished(
        self, job_type: str, outcome: str, seconds: float, reason: str | None = None
    ) -> None:
        """An attempt ended: ``completed``, ``failed`` (for good), ``retried``, ``cancelled``
        or ``deferred`` (given back unspent, to run later)."""
        attrs = {"job_type": job_type, "outcome": outcome}
        self._otel["run"].record(seconds, attrs)
        counted = {"job_type": job_type, **({"reason": reason} if outcome == "failed" else {})}
        self._otel[outcome].add(1, counted)
        if self.prometheus:
            p = self.prometheus
            p.run.labels(job_type, outcome).observe(seconds)
            if outcome == "failed":
                p.failed.labels(job_type, reason or "unknown").inc()
            else:
                p.counters[outcome].labels(job_type).inc()

    def dead_lettered(self, job_type: str, reason: str) -> None:
        """A job failed for good outside any run (the queue dead-lettered its message,
        e.g. after workers crashed on it): counted as failed, with no run time."""
        self._otel["failed"].add(1, {"job_type": job_type, "reason": reason})
        if self.prometheus:
            self.prometheus.failed.labels(job_type, reason).inc()

    def provider_call(self, provider: str, outcome: str, seconds: float) -> None:
        self._otel["provider"].record(seconds, {"provider": provider, "outcome": outcome})
        if self.prometheus:
            self.prometheus.provider.labels(provider, outcome).observe(seconds)

    # --- exposition ---------------------------------------------------------------
    def exposition(self, gauges: Gauges) -> bytes:
        """The Prometheus text format: every process's counters and histograms, then
        ``gauges`` ({name: (help, [(labels, value)])}) read from the stores just now."""
        if self.prometheus is None:
            raise RuntimeError("Prometheus metrics are off in this process")
        return self.prometheus.exposition(gauges)


class _Prometheus:
    """The Prometheus side, created only where it is served (the local host)."""

    def __init__(self, multiprocess_dir: Path | None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        r = self.registry
        self.submitted = Counter(
            "dtq_jobs_submitted", "Jobs accepted.", ["job_type", "priority"], registry=r
        )
        self.failed = Counter(
            "dtq_jobs_failed",
            "Jobs failed for good (into the DLQ).",
            ["job_type", "reason"],
            registry=r,
        )
        self.counters: dict[str, Any] = {
            "completed": Counter("dtq_jobs_completed", "Jobs completed.", ["job_type"], registry=r),
            "retried": Counter(
                "dtq_jobs_retried",
                "Failed attempts that will be retried.",
                ["job_type"],
                registry=r,
            ),
            "cancelled": Counter(
                "dtq_jobs_cancelled", "Jobs cancelled while running.", ["job_type"], registry=r
            ),
            "deferred": Counter(
                "dtq_jobs_deferred",
                "Attempts given back unspent, to run later (e.g. a provider's quota).",
                ["job_type"],
                registry=r,
            ),
        }
        self.run = Histogram(
            "dtq_job_run_seconds",
            "Run time of one attempt, by how it ended.",
            ["job_type", "outcome"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.wait = Histogram(
            "dtq_job_queue_wait_seconds",
            "From when an attempt was due to when a worker started it.",
            ["job_type", "priority"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.provider = Histogram(
            "dtq_provider_request_seconds",
            "Calls to external APIs (weather, quotes, ...), by outcome.",
            ["provider", "outcome"],
            buckets=PROVIDER_BUCKETS,
            registry=r,
        )

    def exposition(self, gauges: Gauges) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import GaugeMetricFamily
        from prometheus_client.multiprocess import MultiProcessCollector

        if self.multiprocess_dir is not None:
            # Every process's files, this one's included.
            events = CollectorRegistry()
            MultiProcessCollector(events, path=str(self.multiprocess_dir))
        else:
            events = self.registry
        families = []
        for name, (help_text, samples) in gauges.items():
            labels = sorted({k for sample_labels, _ in samples for k in sample_labels})
            family = GaugeMetricFamily(name, help_text, labels=labels)
            for sample_labels, value in samples:
                family.add_metric([sample_labels.get(k, "") for k in labels], value)
            families.append(family)

        class _Now:
            def collect(self) -> list[Any]:
                return families

        now = CollectorRegistry()
        now.register(_Now())
        return generate_latest(events) + generate_latest(now)
