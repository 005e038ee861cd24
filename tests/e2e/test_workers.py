"""Worker processes joining, dying and leaving: nothing is lost, nothing runs twice."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import Api
from tests.support.processes import JOB_MESSAGES, LocalHost, start_worker, stop_process

pytestmark = pytest.mark.e2e

LOCK_SECONDS = "1.5"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[LocalHost]:
    """``dtq serve --workers 0``: the API only; tests bring their own workers."""
    local = LocalHost(data_dir=tmp_path, workers=0, env={"DTQ_QUEUE_LOCK_SECONDS": LOCK_SECONDS})
    local.start()
    try:
        yield local
    finally:
        local.stop()


def test_worker_killed_mid_job_is_redelivered_and_result_written_once(
    host: LocalHost, api: Api
) -> None:
    env = {"DTQ_QUEUE_LOCK_SECONDS": LOCK_SECONDS}
    first = start_worker(host.data_dir, env)
    try:
        job_id = api.submit("simulate", {"duration_ms": 3000, "steps": 10})["job_id"]
        running = api.wait(
            job_id, lambda j: j["state"] == "running" and j["progress"] >= 20, timeout=30
        )
        assert running["delivery_count"] == 1
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = time.time()
    finally:
        stop_process(first)

    # Nobody holds the job now; it must still be running, not lost or finished.
    assert api.get(job_id)["state"] == "running"

    second = start_worker(host.data_dir, env)
    try:
        done = api.wait(job_id, lambda j: j["state"] in {"completed", "failed"}, timeout=30)
    finally:
        stop_process(second)

    assert done["state"] == "completed"
    assert done["delivery_count"] == 2, "the lock expired and the message was delivered again"
    assert done["attempt"] == 1, "a crash is a redelivery, not a failed attempt"
    assert done["errors"] == []
    with sqlite3.connect(host.data_dir / "dtq.sqlite3") as db:
        rows = db.execute(
            "SELECT created_at FROM job_results WHERE job_id = ?", (job_id,)
        ).fetchall()
        left = db.execute(JOB_MESSAGES).fetchone()[0]
    assert len(rows) == 1
    assert rows[0][0] > killed_at, "the result was written by the second worker, once"
    assert left == 0, "the message was completed"


def test_cancelled_queued_job_never_runs(host: LocalHost, api: Api) -> None:
    job_id = api.submit("echo", {"message": "never"})["job_id"]
    cancelled = api.http.delete(f"/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    again = api.http.delete(f"/jobs/{job_id}")
    assert again.status_code == 200, "cancelling twice is harmless"
    marker = api.submit("echo", {"message": "after"})["job_id"]

    worker = start_worker(host.data_dir)
    try:
        api.wait(marker, lambda j: j["state"] == "completed", timeout=30)
    finally:
        stop_process(worker)
    job = api.get(job_id)
    assert job["state"] == "cancelled" and job["attempt"] == 0 and job["started_at"] is None
    assert api.http.get(f"/jobs/{job_id}/result").status_code == 404
    with sqlite3.connect(host.data_dir / "dtq.sqlite3") as db:
        assert db.execute(JOB_MESSAGES).fetchone()[0] == 0


def test_graceful_shutdown_abandons_in_flight_jobs_which_finish_later(
    host: LocalHost, api: Api
) -> None:
    env = {"DTQ_QUEUE_LOCK_SECONDS": "30", "DTQ_SHUTDOWN_GRACE_SECONDS": "0.5"}
    first = start_worker(host.data_dir, env)
    job_id = api.submit("simulate", {"duration_ms": 4000, "steps": 8})["job_id"]
    api.wait(job_id, lambda j: j["state"] == "running" and j["progress"] > 0, timeout=30)
    assert stop_process(first) == 0, "SIGTERM is a clean exit"

    # The lock is 30 s, so only an abandon (not lock expiry) lets this finish quickly.
    second = start_worker(host.data_dir, env)
    try:
        done = api.wait(job_id, lambda j: j["state"] == "completed", timeout=15)
    finally:
        stop_process(second)
    assert done["delivery_count"] == 2
