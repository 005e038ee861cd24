"""Worker processes joining, dying and leaving: nothing is lost, nothing runs twice."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.polling import wait_job
from tests.support.processes import LocalHost, start_worker, stop_process

pytestmark = pytest.mark.e2e

LOCK_SECONDS = "1.5"


@pytest.fixture
def api_only(tmp_path: Path) -> Iterator[LocalHost]:
    """``dtq serve --workers 0``: the API only; tests bring their own workers."""
    local = LocalHost(data_dir=tmp_path, workers=0, env={"DTQ_QUEUE_LOCK_SECONDS": LOCK_SECONDS})
    local.start()
    try:
        yield local
    finally:
        local.stop()


def get(host: LocalHost, path: str) -> httpx.Response:
    return httpx.get(f"{host.base_url}/api/v1{path}", timeout=10)


def test_worker_killed_mid_job_is_redelivered_and_result_written_once(api_only: LocalHost) -> None:
    env = {"DTQ_QUEUE_LOCK_SECONDS": LOCK_SECONDS}
    first = start_worker(api_only.data_dir, env)
    try:
        job_id = httpx.post(
            f"{api_only.base_url}/api/v1/jobs",
            json={"job_type": "simulate", "payload": {"duration_ms": 3000, "steps": 10}},
        ).json()["job_id"]
        running = wait_job(
            api_only, job_id, lambda j: j["state"] == "running" and j["progress"] >= 20, timeout=30
        )
        assert running["delivery_count"] == 1
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = time.time()
    finally:
        stop_process(first)

    # Nobody holds the job now; it must still be running, not lost or finished.
    assert get(api_only, f"/jobs/{job_id}").json()["state"] == "running"

    second = start_worker(api_only.data_dir, env)
    try:
        done = wait_job(
            api_only, job_id, lambda j: j["state"] in {"completed", "failed"}, timeout=30
        )
    finally:
        stop_process(second)

    assert done["state"] == "completed"
    assert done["delivery_count"] == 2, "the lock expired and the message was delivered again"
    assert done["attempt"] == 1, "a crash is a redelivery, not a failed attempt"
    assert done["errors"] == []
    with sqlite3.connect(api_only.data_dir / "dtq.sqlite3") as db:
        rows = db.execute(
            "SELECT created_at FROM job_results WHERE job_id = ?", (job_id,)
        ).fetchall()
        left = db.execute("SELECT COUNT(*) FROM queue_messages").fetchone()[0]
    assert len(rows) == 1
    assert rows[0][0] > killed_at, "the result was written by the second worker, once"
    assert left == 0, "the message was completed"


def test_cancelled_queued_job_never_runs(api_only: LocalHost) -> None:
    base = f"{api_only.base_url}/api/v1"
    job_id = httpx.post(
        f"{base}/jobs", json={"job_type": "echo", "payload": {"message": "never"}}
    ).json()["job_id"]
    cancelled = httpx.delete(f"{base}/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    again = httpx.delete(f"{base}/jobs/{job_id}")
    assert again.status_code == 200, "cancelling twice is harmless"
    marker = httpx.post(
        f"{base}/jobs", json={"job_type": "echo", "payload": {"message": "after"}}
    ).json()["job_id"]

    worker = start_worker(api_only.data_dir)
    try:
        wait_job(api_only, marker, lambda j: j["state"] == "completed", timeout=30)
    finally:
        stop_process(worker)
    job = get(api_only, f"/jobs/{job_id}").json()
    assert job["state"] == "cancelled" and job["attempt"] == 0 and job["started_at"] is None
    assert get(api_only, f"/jobs/{job_id}/result").status_code == 404
    with sqlite3.connect(api_only.data_dir / "dtq.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM queue_messages").fetchone()[0] == 0


def test_graceful_shutdown_abandons_in_flight_jobs_which_finish_later(api_only: LocalHost) -> None:
    env = {"DTQ_QUEUE_LOCK_SECONDS": "30", "DTQ_SHUTDOWN_GRACE_SECONDS": "0.5"}
    first = start_worker(api_only.data_dir, env)
    job_id = httpx.post(
        f"{api_only.base_url}/api/v1/jobs",
        json={"job_type": "simulate", "payload": {"duration_ms": 4000, "steps": 8}},
    ).json()["job_id"]
    wait_job(api_only, job_id, lambda j: j["state"] == "running" and j["progress"] > 0, timeout=30)
    assert stop_process(first) == 0, "SIGTERM is a clean exit"

    # The lock is 30 s, so only an abandon (not lock expiry) lets this finish quickly.
    second = start_worker(api_only.data_dir, env)
    try:
        done = wait_job(api_only, job_id, lambda j: j["state"] == "completed", timeout=15)
    finally:
        stop_process(second)
    assert done["delivery_count"] == 2
