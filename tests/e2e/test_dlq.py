"""End to end on the local host: retries run out into the dead-letter queue, which lists,
requeues and purges jobs, while their messages are completed; a poison message is
abandoned until the queue dead-letters it past maxDeliveryCount, and the workers keep
running."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shared.adapters.sqlite import Database, SqliteJobQueue
from shared.constants import PROP_TENANT_ID
from shared.ports import OutgoingMessage
from tests.support.api import Api
from tests.support.processes import LocalHost

pytestmark = pytest.mark.e2e


def dead_letter_ids(api: Api, job_type: str | None = None) -> list[str]:
    return [j["job_id"] for j in api.dead_letters(job_type=job_type, limit=500)["items"]]


def test_fail_first_two_completes_on_the_third_attempt(api: Api) -> None:
    job = api.submit("simulate", {"duration_ms": 0, "fail_first": 2})
    done = api.wait(job["job_id"])
    assert done["state"] == "completed" and done["attempt"] == 3
    assert [(e["attempt"], e["retryable"]) for e in done["errors"]] == [(1, True), (2, True)]
    assert done["dead_letter"] is None and job["job_id"] not in dead_letter_ids(api)


def test_out_of_attempts_lands_in_the_dlq_and_a_requeue_completes_it(api: Api) -> None:
    job = api.submit("simulate", {"duration_ms": 0, "fail_first": 5}, max_attempts=3)
    failed = api.wait(job["job_id"])
    assert failed["state"] == "failed" and failed["attempt"] == 3
    assert failed["dead_letter"]["reason"] == "MaxAttemptsExceeded"
    assert "attempt 3 of 3" in failed["dead_letter"]["description"]
    assert [e["attempt"] for e in failed["errors"]] == [1, 2, 3]

    listed = api.dead_letters(job_type="simulate", limit=500)["items"]
    [entry] = [j for j in listed if j["job_id"] == job["job_id"]]
    assert entry["error"]["message"].startswith("simulated transient failure on attempt 3")

    requeued = api.http.post(f"/dlq/{job['job_id']}/requeue", json={})
    assert requeued.status_code == 202, requeued.text
    assert requeued.json()["state"] == "queued" and requeued.json()["requeues"] == 1
    assert requeued.json()["max_attempts"] == 6, "three more attempts"
    again = api.http.post(f"/dlq/{job['job_id']}/requeue", json={})
    assert again.status_code == 409, "it is no longer in the dead-letter queue"

    done = api.wait(job["job_id"], {"completed", "failed"})
    assert done["state"] == "completed" and done["attempt"] == 6, done
    assert len(done["errors"]) == 5, "the history of both rounds is kept"
    assert job["job_id"] not in dead_letter_ids(api)
    assert api.http.get(f"/jobs/{job['job_id']}/result").status_code == 200


def test_permanent_failure_goes_straight_to_the_dlq_and_can_be_purged(
    api: Api,
) -> None:
    job = api.submit("simulate", {"duration_ms": 0, "fail_permanently": True}, max_attempts=5)
    failed = api.wait(job["job_id"])
    assert failed["attempt"] == 1 and failed["dead_letter"]["reason"] == "PermanentFailure"
    assert failed["delivery_count"] == 1
    assert job["job_id"] in dead_letter_ids(api)
    # The job record is the dead-letter queue; its message was completed, as the
    # Functions host completes it when the function returns, not dead-lettered.
    messages = api.http.get("/dlq/messages").json()["items"]
    assert [m for m in messages if m["message_id"].startswith(job["job_id"])] == []
    other = api.submit("simulate", {"duration_ms": 0})
    assert api.http.delete(f"/dlq/{other['job_id']}").status_code == 409, "not a failed job"
    assert api.http.delete(f"/dlq/{job['job_id']}").status_code == 204
    assert api.http.get(f"/jobs/{job['job_id']}").status_code == 404
    assert api.http.delete(f"/dlq/{job['job_id']}").status_code == 404


def test_a_job_not_in_the_dlq_cannot_be_requeued_or_purged(api: Api) -> None:
    job = api.submit("simulate", {"duration_ms": 0})
    api.wait(job["job_id"], {"completed"})
    for response in (
        api.http.post(f"/dlq/{job['job_id']}/requeue"),
        api.http.delete(f"/dlq/{job['job_id']}"),
    ):
        assert response.status_code == 409, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert api.http.post("/dlq/01unknownjob/requeue").status_code == 404
    bad = api.http.post(f"/dlq/{job['job_id']}/requeue", json={"max_attempts": 0})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "max_attempts"


def test_bulk_requeue_and_purge_act_on_the_matching_jobs_only(api: Api) -> None:
    doomed = {"duration_ms": 0, "fail_permanently": True}
    ids = [api.submit("simulate", doomed)["job_id"] for _ in range(3)]
    for job_id in ids:
        api.wait(job_id)
    before = set(dead_letter_ids(api))
    assert set(ids) <= before

    echo = api.http.post("/dlq/requeue", json={"job_type": "echo"})
    assert echo.status_code == 200 and echo.json()["requeued"] == 0, "no echo job failed"

    first = api.requeue_matching(job_type="simulate", limit=2)
    assert first["requeued"] == 2 and first["more"] is True
    for job_id in first["job_ids"]:
        assert api.wait(job_id, lambda j: j["requeues"] == 1 and j["state"] == "failed")

    purged = api.purge_matching(job_type="simulate", limit=1000)
    assert purged["more"] is False and set(ids) <= set(purged["job_ids"])
    assert dead_letter_ids(api, job_type="simulate") == []
    for job_id in ids:
        assert api.http.get(f"/jobs/{job_id}").status_code == 404


def test_a_poison_message_is_abandoned_until_the_queue_dead_letters_it(
    api: Api, host: LocalHost
) -> None:
    async def send_poison() -> None:
        db = Database(Path(host.data_dir) / "dtq.sqlite3")
        queue = SqliteJobQueue(db, "dtq-jobs", lock_duration=30, max_delivery_count=10)
        try:
            await queue.send(
                [
                    OutgoingMessage("poison-1", b"{not json", {PROP_TENANT_ID: "local"}),
                ]
            )
        finally:
            await queue.close()
            db.close()

    asyncio.run(send_poison())
    after = api.submit("simulate", {"duration_ms": 0})  # the workers keep running
    assert api.wait(after["job_id"])["state"] == "completed"
    for _ in range(100):
        messages = api.http.get("/dlq/messages").json()["items"]
        poison = [m for m in messages if m["message_id"] == "poison-1"]
        if poison:
            break
        asyncio.run(asyncio.sleep(0.1))
    assert poison, messages
    # Raised on every delivery (as in Azure, where a function cannot dead-letter), so
    # the queue dead-lettered it past maxDeliveryCount (DTQ_QUEUE_MAX_DELIVERY_COUNT).
    assert poison[0]["reason"] == "MaxDeliveryCountExceeded"
    assert poison[0]["delivery_count"] == 10
    assert poison[0]["body"] == "{not json"
