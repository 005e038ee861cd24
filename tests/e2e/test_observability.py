"""Traces, metrics and logs of the local host: one trace per job across the HTTP
request, the queue and the worker process (and its provider calls); Prometheus
metrics that add up after a known workload; JSON logs carrying job_id and trace_id."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.traces import job_trace, read_spans
from tests.support.api import Api
from tests.support.fake_providers import FakeProviders
from tests.support.processes import LocalHost, run_dtq, running_host

pytestmark = pytest.mark.e2e


class Observed:
    def __init__(self, host: LocalHost, traces: Path, api: Api):
        self.host, self.traces, self.api = host, traces, api

    def spans_of(
        self,
        job_id: str,
        names: set[str],
        timeout: float = 15,
        counts: dict[str, int] | None = None,
    ) -> list[dict[str, Any]]:
        """The job's spans, once every name in ``names`` is among them, and each name in
        ``counts`` that many times (spans are written in batches, a few seconds after
        they end, by each process on its own time)."""
        deadline = time.monotonic() + timeout
        spans: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            spans = job_trace(read_spans(self.traces), job_id) if self.traces.is_dir() else []
            seen = [s["name"] for s in spans]
            if names <= set(seen) and all(seen.count(n) >= k for n, k in (counts or {}).items()):
                return spans
            time.sleep(0.2)
        raise AssertionError(f"spans of {job_id}: {[s['name'] for s in spans]}, wanted {names}")

    def metrics(self) -> dict[str, float]:
        text = self.api.http.get(f"{self.host.base_url}/api/metrics").text
        return {
            f"{sample.name}{json.dumps(sample.labels, sort_keys=True)}": sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


@pytest.fixture(scope="module")
def observed(
    tmp_path_factory: pytest.TempPathFactory, fake_providers: FakeProviders
) -> Iterator[Observed]:
    data_dir = Path(tmp_path_factory.mktemp("dtq-observed"))
    traces = data_dir / "traces"
    env = {
        **fake_providers.environment(),
        "DTQ_TRACES_DIR": str(traces),
        "DTQ_LOG_FORMAT": "json",
        "DTQ_RETRY_BACKOFF_BASE_SECONDS": "0.05",
    }
    with (
        running_host(data_dir, workers=2, env=env, background_stop=True) as host,
        Api(host.base_url) as api,
    ):
        yield Observed(host, traces, api)


def test_one_trace_runs_from_the_request_through_the_queue_to_the_provider(
    observed: Observed,
) -> None:
    caller = "00-" + "c" * 32 + "-" + "d" * 16 + "-01"
    response = observed.api.http.post(
        "/jobs",
        json={"job_type": "weather", "payload": {"city": "Lisbon", "country_code": "PT"}},
        headers={"traceparent": caller},
    )
    job = response.json()
    assert job["trace_id"] == "c" * 32, "the job joins the caller's trace"
    observed.api.wait(job["job_id"], {"completed"})
    spans = observed.spans_of(job["job_id"], {"POST submit_job", "enqueue weather", "run weather"})
    by_name = {s["name"]: s for s in spans}
    assert {s["trace_id"] for s in spans} == {job["trace_id"]}
    request, enqueue, run = (
        by_name["POST submit_job"],
        by_name["enqueue weather"],
        by_name["run weather"],
    )
    assert request["parent_id"] == "d" * 16 and request["kind"] == "SERVER"
    assert enqueue["parent_id"] == request["span_id"] and enqueue["kind"] == "PRODUCER"
    assert run["parent_id"] == enqueue["span_id"] and run["kind"] == "CONSUMER"
    assert run["pid"] != request["pid"], "the run happened in a worker process"
    assert run["attributes"]["dtq.attempt"] == 1 and run["attributes"]["dtq.outcome"] == "completed"
    calls = [s for s in spans if s["kind"] == "CLIENT"]
    assert len(calls) == 2, "geocoding, then the forecast"
    assert all(c["parent_id"] == run["span_id"] for c in calls)
    assert {c["attributes"]["http.response.status_code"] for c in calls} == {200}


def test_every_attempt_of_a_retried_job_is_in_its_trace(observed: Observed) -> None:
    job = observed.api.submit("simulate", {"duration_ms": 10, "fail_first": 1}, max_attempts=2)
    observed.api.wait(job["job_id"], {"completed"})
    spans = observed.spans_of(
        job["job_id"], {"run simulate", "enqueue retry simulate"}, counts={"run simulate": 2}
    )
    runs = [s for s in spans if s["name"] == "run simulate"]
    assert sorted(r["attributes"]["dtq.attempt"] for r in runs) == [1, 2]
    first, second = sorted(runs, key=lambda r: r["attributes"]["dtq.attempt"])
    assert first["status"] == "ERROR"
    retry = next(s for s in spans if s["name"] == "enqueue retry simulate")
    assert retry["parent_id"] == first["span_id"] and second["parent_id"] == retry["span_id"]


def test_dtq_trace_prints_the_tree(observed: Observed) -> None:
    job = observed.api.submit("echo", {"message": "traced"})
    observed.api.wait(job["job_id"], {"completed"})
    # The web process and the worker write their spans in batches, each on its own time.
    observed.spans_of(job["job_id"], {"POST submit_job", "enqueue echo", "run echo"})
    shown = run_dtq(
        observed.host.data_dir, "trace", job["job_id"], "--traces-dir", str(observed.traces)
    )
    lines = shown.splitlines()
    assert lines[0] == f"trace {job['trace_id']} of job {job['job_id']}"
    names = [line.split("  ")[0] for line in lines[1:]]
    indents = {
        line.strip().split()[0] + " " + line.strip().split()[1]: len(line) - len(line.lstrip())
        for line in lines[1:]
    }
    assert indents["POST submit_job"] < indents["enqueue echo"] < indents["run echo"], names


def test_metrics_add_up_after_a_known_workload(observed: Observed) -> None:
    before = observed.metrics()
    done = [observed.api.submit("echo", {"message": f"m{i}"}) for i in range(3)]
    failed = observed.api.submit(
        "simulate", {"duration_ms": 5, "fail_permanently": True}, max_attempts=1
    )
    retried = observed.api.submit(
        "simulate", {"duration_ms": 5, "fail_first": 1}, max_attempts=2, priority="high"
    )
    for job in done:
        observed.api.wait(job["job_id"], {"completed"})
    observed.api.wait(failed["job_id"], {"failed"})
    observed.api.wait(retried["job_id"], {"completed"})
    after = observed.metrics()

    def grew(name: str, **labels: str) -> float:
        key = f"{name}{json.dumps(labels, sort_keys=True)}"
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("dtq_jobs_submitted_total", job_type="echo", priority="normal") == 3
    assert grew("dtq_jobs_submitted_total", job_type="simulate", priority="high") == 1
    assert grew("dtq_jobs_completed_total", job_type="echo") == 3
    assert grew("dtq_jobs_completed_total", job_type="simulate") == 1
    assert grew("dtq_jobs_failed_total", job_type="simulate", reason="PermanentFailure") == 1
    assert grew("dtq_jobs_retried_total", job_type="simulate") == 1
    # Run durations: one observation per attempt, by how it ended.
    assert grew("dtq_job_run_seconds_count", job_type="echo", outcome="completed") == 3
    assert grew("dtq_job_run_seconds_count", job_type="simulate", outcome="retried") == 1
    assert grew("dtq_job_queue_wait_seconds_count", job_type="simulate", priority="high") == 2
    # Read from the stores at scrape time.
    assert after['dtq_jobs{"state": "failed"}'] >= 1
    assert after["dtq_dead_letter_jobs{}"] == after['dtq_jobs{"state": "failed"}']
    assert (
        'dtq_queue_messages{"priority": "high", "queue": "dtq-jobs-high", "state": "active"}'
        in after
    )
    assert after["dtq_workers{}"] == 2


def test_provider_calls_are_timed_by_outcome(observed: Observed) -> None:
    before = observed.metrics()
    job = observed.api.submit("quote", {})
    observed.api.wait(job["job_id"], {"completed"})
    after = observed.metrics()
    key = 'dtq_provider_request_seconds_count{"outcome": "ok", "provider": "quoteslate"}'
    assert after[key] - before.get(key, 0) == 1


def test_logs_are_json_with_job_id_and_trace_id(observed: Observed) -> None:
    job = observed.api.submit("echo", {"message": "logged"})
    observed.api.wait(job["job_id"], {"completed"})
    deadline = time.monotonic() + 10
    mine: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not any("completed" in r["message"] for r in mine):
        records = [
            json.loads(line) for line in observed.host.log().splitlines() if line.startswith("{")
        ]
        mine = [r for r in records if r.get("job_id") == job["job_id"]]
        time.sleep(0.2)
    assert any("started" in r["message"] for r in mine) and any(
        "completed" in r["message"] for r in mine
    )
    assert {r["trace_id"] for r in mine} == {job["trace_id"]}
    assert {"time", "level", "logger"} <= set(mine[0])
