"""End to end on the local host: /api/v1/stats after a known workload."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.conftest import BACKENDS, backend_env
from tests.support.api import Api
from tests.support.processes import LocalHost

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("backend", BACKENDS)
def test_stats_after_a_known_workload(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    host = LocalHost(data_dir=tmp_path, workers=2, env=backend_env(backend, request)).start()
    try:
        with Api(host.base_url) as api:
            done = [api.submit("echo", {"message": str(i)})["job_id"] for i in range(3)]
            doomed = {"duration_ms": 0, "fail_permanently": True}
            failed = api.submit("simulate", doomed)["job_id"]
            api.submit("echo", {"message": "later"}, delay_seconds=600)
            api.submit("echo", {"message": "later"}, delay_seconds=600, priority="low")
            for job_id in [*done, failed]:
                api.wait(job_id)

            deadline = time.monotonic() + 15
            while True:  # the worker processes beat every 5 s; wait for beats after the work
                stats = api.stats()
                beats = stats.get("workers", [])
                ran = sum(w["invocations"] for w in beats)
                if (len(beats) == 2 and ran >= 4) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
    finally:
        host.stop()

    jobs = stats["jobs"]
    assert jobs["total"] == 6
    assert {k: v for k, v in jobs["by_state"].items() if v} == {
        "completed": 3,
        "failed": 1,
        "scheduled": 2,
    }
    assert jobs["by_type"] == {"echo": {"completed": 3, "scheduled": 2}, "simulate": {"failed": 1}}
    assert stats["completed_last_hour"] == 3
    assert len(stats["completed_per_minute"]) == 60
    assert sum(m["completed"] for m in stats["completed_per_minute"][-2:]) == 3, "just now"
    # The failed job is in the job DLQ; its message was completed, as the Functions host
    # completes a message whose function returned (docs/retries.md), so the queue's own
    # dead-letter queue stays empty.
    assert stats["dead_letter"] == {"jobs": 1, "messages": 0}
    assert stats["queues"]["normal"]["scheduled"] == 1
    assert stats["queues"]["normal"]["dead_lettered"] == 0
    assert stats["queues"]["low"]["scheduled"] == 1
    assert stats["queues"]["high"] == {
        "queue": "dtq-jobs-high",
        "active": 0,
        "scheduled": 0,
        "dead_lettered": 0,
    }
    workers = stats["workers"]
    assert len(workers) == 2 and len({w["pid"] for w in workers}) == 2
    # Four job runs, and the batches of the live-update push (the events queue), whose
    # number depends on how the changes were batched.
    assert sum(w["invocations"] for w in workers) >= 4
    # The job queues, the live updates' and the completion webhooks' (shared/webhooks/).
    queues = {"dtq-jobs", "dtq-jobs-high", "dtq-jobs-low", "dtq-events", "dtq-webhooks"}
    assert all(set(w["queues"]) == queues for w in workers), workers


@pytest.mark.parametrize("backend", BACKENDS)
def test_retention_purges_finished_jobs_on_schedule(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    host = LocalHost(
        data_dir=tmp_path,
        workers=1,
        env={
            **backend_env(backend, request),
            "DTQ_RETENTION_SCHEDULE": "* * * * * *",  # every second
            "DTQ_RETENTION_SECONDS": "1",
            "DTQ_RESULT_TTL_SECONDS": "1",
        },
    ).start()
    try:
        with Api(host.base_url) as api:
            job_id = api.submit("echo", {"message": "x"})["job_id"]
            waiting_id = api.submit("echo", {"message": "y"}, delay_seconds=600)["job_id"]
            assert api.wait(job_id)["state"] == "completed"
            deadline = time.monotonic() + 10
            while api.http.get(f"/jobs/{job_id}").status_code != 404:
                assert time.monotonic() < deadline, "the finished job was not purged"
                time.sleep(0.2)
            assert api.http.get(f"/jobs/{job_id}/result").status_code == 404
            assert api.get(waiting_id)["state"] == "scheduled", "kept"
    finally:
        host.stop()
    assert "retention: purged" in host.log()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_running_cap_holds_across_two_worker_processes(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    env = {**backend_env(backend, request), "DTQ_DEFAULT_TENANT_MAX_RUNNING": "2"}
    host = LocalHost(data_dir=tmp_path, workers=2, env=env).start()
    try:
        with Api(host.base_url) as api:
            slow = {"duration_ms": 800, "steps": 4}
            ids = [api.submit("simulate", slow)["job_id"] for _ in range(6)]
            most = 0
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                running = api.jobs(state="running", limit=50)
                most = max(most, len(running["items"]))
                states = {api.get(i)["state"] for i in ids}
                if states == {"completed"}:
                    break
                time.sleep(0.05)
            assert states == {"completed"}, states
    finally:
        host.stop()
    assert most == 2, f"at most 2 of the tenant's jobs run at once, saw {most}"
    assert "waits for a running slot" in host.log()
