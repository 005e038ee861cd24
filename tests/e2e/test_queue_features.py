"""End to end on the local host: scheduled and delayed jobs, per-job time limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.api import Api

pytestmark = pytest.mark.e2e


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_job_scheduled_two_seconds_ahead_does_not_start_early(api: Api) -> None:
    at = datetime.now(UTC) + timedelta(seconds=2)
    # scheduled_at is not among ApiClient.submit's options (nor the CLI's): raw HTTP.
    body = {"job_type": "echo", "payload": {"message": "later"}, "scheduled_at": at.isoformat()}
    response = api.http.post("/jobs", json=body)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["state"] == "scheduled" and parse(job["next_attempt_at"]) == at
    while datetime.now(UTC) < at - timedelta(seconds=0.2):
        assert api.get(job["job_id"])["state"] == "scheduled"
        time.sleep(0.1)
    done = api.wait(job["job_id"], timeout=10)
    assert done["state"] == "completed"
    assert parse(done["started_at"]) >= at, "started before it was due"


def test_a_delayed_job_can_be_cancelled_before_it_is_due(api: Api) -> None:
    job = api.submit("echo", {"message": "never"}, delay_seconds=1)
    assert job["state"] == "scheduled"
    cancelled = api.http.delete(f"/jobs/{job['job_id']}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    time.sleep(1.5)  # its message comes due and is completed as a no-op
    after = api.get(job["job_id"])
    assert after["state"] == "cancelled" and after["started_at"] is None


def test_a_jobs_own_time_limit_ends_a_slow_attempt(api: Api) -> None:
    job = api.submit(
        "simulate", {"duration_ms": 5000, "steps": 1}, timeout_seconds=0.5, max_attempts=1
    )
    started = time.monotonic()
    failed = api.wait(job["job_id"], timeout=10)
    assert time.monotonic() - started < 4, "stopped at its limit, not after the 5 s run"
    assert failed["state"] == "failed" and failed["timeout_seconds"] == 0.5
    assert failed["error"]["type"] == "JobTimedOut" and failed["error"]["retryable"]
    assert failed["dead_letter"]["reason"] == "MaxAttemptsExceeded"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"scheduled_at": "2030-01-01T09:00:00"}, "scheduled_at"),
        ({"delay_seconds": 1, "scheduled_at": "2030-01-01T09:00:00Z"}, "delay_seconds"),
        ({"delay_seconds": -1}, "delay_seconds"),
        ({"timeout_seconds": 100000}, "timeout_seconds"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(
    api: Api, extra: dict[str, Any], field: str
) -> None:
    body = {"job_type": "echo", "payload": {"message": "x"}, **extra}
    response = api.http.post("/jobs", json=body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_a_running_job_is_cancelled_cooperatively(api: Api) -> None:
    job = api.submit("simulate", {"duration_ms": 20000, "steps": 200})
    api.wait(job["job_id"], lambda j: j["state"] == "running" and j["progress"] > 0)
    asked = api.http.delete(f"/jobs/{job['job_id']}")
    assert asked.status_code == 202, asked.text
    assert asked.json()["state"] == "running" and asked.json()["cancel_requested_at"]
    done = api.wait(job["job_id"], timeout=5)
    assert done["state"] == "cancelled" and done["progress"] < 100
    assert api.http.get(f"/jobs/{job['job_id']}/result").status_code == 404
    again = api.http.delete(f"/jobs/{job['job_id']}")
    assert again.status_code == 200, "cancelling again is harmless"


def test_a_running_job_that_reports_nothing_is_cancelled_too(api: Api) -> None:
    job = api.submit("simulate", {"duration_ms": 20000, "steps": 1})
    api.wait(job["job_id"], {"running"})
    assert api.http.delete(f"/jobs/{job['job_id']}").status_code == 202
    started = time.monotonic()
    done = api.wait(job["job_id"], timeout=8)
    assert done["state"] == "cancelled"
    assert time.monotonic() - started < 5, "seen by the worker's periodic check (2 s)"


def test_high_priority_jobs_overtake_a_backlog_of_low_ones(api: Api) -> None:
    slow = {"duration_ms": 400, "steps": 1}
    item = {"job_type": "simulate", "payload": slow, "priority": "low"}
    low = [  # four rounds of the low queue's 16 slots in 2 worker processes, queued at once
        i["job"]["job_id"]
        for _ in range(2)
        for i in api.http.post("/jobs:batch", json={"jobs": [item] * 64}).json()["items"]
    ]
    high = [api.submit("simulate", slow, priority="high")["job_id"] for _ in range(4)]
    assert api.get(high[0])["priority"] == "high"
    finished = {job_id: parse(api.wait(job_id, timeout=30)["finished_at"]) for job_id in low + high}
    last_high = max(finished[j] for j in high)
    low_after = sum(1 for j in low if finished[j] > last_high)
    assert low_after >= len(low) // 2, (
        f"high jobs waited behind the low backlog: only {low_after} low jobs finished later"
    )
