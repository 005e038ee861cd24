"""Every function of the app, indexed and invoked through Microsoft's Python worker
library with the inputs the Functions host sends (tests/support/functions_worker.py).

Before this tier existed the app had never been through the worker: one PEP 585
annotation (``list[func.ServiceBusMessage]``) made the worker refuse ``push_job_events``,
and with it every function of the app.
"""

from __future__ import annotations

import json
from typing import Any

import function_app
from shared.composition import Runtime
from shared.jobs import JobState
from shared.ports import ReceivedMessage
from shared.push import job_group, tenant_group
from tests.support.functions_worker import FunctionsWorker, Invocation, QueueMessage

TRIGGER_OF_QUEUE = {
    "dtq-jobs": "run_job",
    "dtq-jobs-high": "run_job_high",
    "dtq-jobs-low": "run_job_low",
    "dtq-webhooks": "deliver_webhook",
}


def host_message(received: ReceivedMessage) -> QueueMessage:
    """A message taken from the embedded queue, as the Service Bus extension hands it on."""
    return QueueMessage(
        body=received.body,
        message_id=received.message_id,
        delivery_count=received.delivery_count,
        application_properties=dict(received.application_properties),
        sequence_number=received.sequence_number,
        enqueued_time=received.enqueued_time,
    )


async def deliver(worker: FunctionsWorker, rt: Runtime, queue_name: str = "dtq-jobs") -> Invocation:
    """Play the host for one message: take it with a lock, invoke its trigger, then
    settle as ``autoCompleteMessages`` does (complete on success, abandon on failure)."""
    queue = rt.queue(queue_name)
    [received] = await queue.receive(1, max_wait=5)
    outcome = await worker.service_bus(TRIGGER_OF_QUEUE[queue_name], host_message(received))
    if outcome.succeeded:
        await queue.complete(received)
    else:
        await queue.abandon(received)
    return outcome


async def submit(
    worker: FunctionsWorker, job_type: str, payload: dict[str, Any], **options: Any
) -> str:
    response = await worker.http(
        "submit_job", "POST", "v1/jobs", body={"job_type": job_type, "payload": payload, **options}
    )
    assert response.succeeded, response.error
    assert response.status == 202, response.returned
    return str(response.json()["job_id"])


async def get_job(worker: FunctionsWorker, job_id: str) -> dict[str, Any]:
    response = await worker.http(
        "get_job", "GET", f"v1/jobs/{job_id}", route_params={"job_id": job_id}
    )
    assert response.status == 200, response.returned
    return dict(response.json())


def test_the_worker_indexes_every_function_of_the_app(functions_worker: FunctionsWorker) -> None:
    declared = {str(f.get_function_name()) for f in function_app.create_app().get_functions()}
    assert set(functions_worker.functions) == declared
    assert len(declared) >= 20
    push = functions_worker.trigger("push_job_events")
    assert (push["type"], push["cardinality"]) == ("serviceBusTrigger", "MANY")
    negotiate = functions_worker.bindings("negotiate")
    assert negotiate["connection"]["type"] == "signalRConnectionInfo"
    assert negotiate["groups"]["direction"] == "OUT"


async def test_submit_over_http_then_run_the_message(
    functions_worker: FunctionsWorker, runtime: Runtime
) -> None:
    job_id = await submit(functions_worker, "echo", {"message": "through the worker"})

    outcome = await deliver(functions_worker, runtime)

    assert outcome.succeeded, outcome.error
    job = await get_job(functions_worker, job_id)
    assert (job["state"], job["attempt"], job["progress"]) == ("completed", 1, 100)
    result = await functions_worker.http(
        "get_job_result", "GET", f"v1/jobs/{job_id}/result", route_params={"job_id": job_id}
    )
    assert result.status == 200
    assert "through the worker" in json.dumps(result.json())


async def test_a_failed_attempt_is_retried_from_its_own_message(
    functions_worker: FunctionsWorker, runtime: Runtime
) -> None:
    job_id = await submit(
        functions_worker, "simulate", {"duration_ms": 0, "steps": 1, "fail_first": 1}
    )

    first = await deliver(functions_worker, runtime)

    assert first.succeeded, first.error  # the retry is a new scheduled message
    assert (await get_job(functions_worker, job_id))["state"] == "retrying"
    second = await deliver(functions_worker, runtime)
    assert second.succeeded, second.error
    job = await get_job(functions_worker, job_id)
    assert (job["state"], job["attempt"]) == ("completed", 2)
    assert [e["attempt"] for e in job["errors"]] == [1]


async def test_a_paused_job_type_is_held_through_the_worker_then_runs(
    functions_worker: FunctionsWorker, runtime: Runtime
) -> None:
    """Pause echo over HTTP: its delivery succeeds (the message is completed) without
    starting the job, whose message comes back; resumed, the copy runs attempt 1."""
    w = functions_worker
    assert runtime.pauses is not None
    runtime.pauses.recheck_seconds, runtime.pauses.cache_seconds = 0.2, 0.0
    held = await w.http("pause", "POST", "v1/pauses", body={"job_type": "echo"})
    assert held.status == 201, held.returned
    job_id = await submit(w, "echo", {"message": "held"})

    outcome = await deliver(w, runtime)

    assert outcome.succeeded, outcome.error
    job = await get_job(w, job_id)
    assert (job["state"], job["attempt"], job["stage"]) == ("queued", 0, "paused")
    where = {"route_params": {"kind": "job_type", "value": "echo"}}
    resumed = await w.http("resume", "DELETE", "v1/pauses/job_type/echo", **where)
    assert resumed.status == 200, resumed.returned
    again = await deliver(w, runtime)
    assert again.succeeded, again.error
    job = await get_job(w, job_id)
    assert (job["state"], job["attempt"], job["error"]) == ("completed", 1, None)


async def test_a_permanent_failure_ends_the_job_and_completes_its_message(
    functions_worker: FunctionsWorker, runtime: Runtime
) -> None:
    job_id = await submit(
        functions_worker, "simulate", {"duration_ms": 0, "fail_permanently": True}
    )

    outcome = await deliver(functions_worker, runtime)

    # The Functions host can only complete (return) or abandon (raise): the job's failure
    # is recorded in dtq's own dead-letter records and the message is completed.
    assert outcome.succeeded, outcome.error
    job = await get_job(functions_worker, job_id)
    assert job["state"] == JobState.FAILED.value
    assert job["dead_letter"]["reason"] == "PermanentFailure"
    assert (await runtime.queue("dtq-jobs").depth()).active == 0
    dlq = await functions_worker.http("list_dead_letters", "GET", "v1/dlq")
    assert [j["job_id"] for j in dlq.json()["items"]] == [job_id]


async def test_a_poison_message_fails_its_invocation(
    functions_worker: FunctionsWorker, runtime: Runtime
) -> None:
    outcome = await functions_worker.service_bus("run_job", QueueMessage(body=b"{not json"))

    assert not outcome.succeeded  # abandoned: Service Bus dead-letters it past maxDeliveryCount
    assert outcome.error is not None


async def test_the_push_batch_sends_each_jobs_newest_state_to_its_groups(
    functions_worker: FunctionsWorker, runtime: Runtime
) -> None:
    job_id = await submit(functions_worker, "echo", {"message": "pushed"})
    await deliver(functions_worker, runtime)  # queued, running, progress, completed
    events = await runtime.status.events.receive(50, max_wait=2)  # type: ignore[attr-defined]
    assert len(events) >= 3

    outcome = await functions_worker.service_bus_batch(
        "push_job_events", [host_message(e) for e in events]
    )

    assert outcome.succeeded, outcome.error
    sent = json.loads(outcome.outputs["signalr"])
    assert {m["groupName"] for m in sent} == {job_group(job_id), tenant_group("local")}
    assert all(m["arguments"][0]["state"] == "completed" for m in sent)


async def test_negotiate_returns_the_connection_and_joins_the_tenant_group(
    functions_worker: FunctionsWorker, runtime: Runtime
) -> None:
    user_id = "a1b2c3d4e5f6a7b8c9d0"
    connection = {
        "url": "https://dtq-test.service.signalr.net/client/?hub=dtq",
        "accessToken": "t0k",
    }

    outcome = await functions_worker.http(
        "negotiate",
        "POST",
        "negotiate",
        headers={"x-dtq-push-id": user_id},
        extra={"connection": json.dumps(connection)},
    )

    assert outcome.succeeded, outcome.error
    assert outcome.status == 200
    assert outcome.json() == {**connection, "group": tenant_group("local")}
    assert json.loads(outcome.outputs["groups"]) == [
        {"userId": user_id, "groupName": tenant_group("local"), "action": "add"}
    ]


async def test_negotiate_refuses_a_guessable_id(
    functions_worker: FunctionsWorker, runtime: Runtime
) -> None:
    outcome = await functions_worker.http(
        "negotiate",
        "POST",
        "negotiate",
        headers={"x-dtq-push-id": "me"},
        extra={"connection": "{}"},
    )
    assert outcome.succeeded
    assert outcome.status == 400
    assert "groups" not in outcome.outputs


async def test_the_reconciler_timer_fails_a_job_whose_message_the_queue_dead_lettered(
    functions_worker: FunctionsWorker, runtime: Runtime
) -> None:
    job_id = await submit(functions_worker, "echo", {"message": "never runs"})
    queue = runtime.queue("dtq-jobs")
    [received] = await queue.receive(1, max_wait=5)
    await queue.dead_letter(received, "MaxDeliveryCountExceeded", "delivered 10 times")

    outcome = await functions_worker.timer("reconcile_dead_letters")

    assert outcome.succeeded, outcome.error
    job = await get_job(functions_worker, job_id)
    assert job["state"] == "failed"
    assert job["dead_letter"]["reason"] == "MaxDeliveryCountExceeded"


async def test_the_retention_timer_runs(
    functions_worker: FunctionsWorker, runtime: Runtime
) -> None:
    job_id = await submit(functions_worker, "echo", {"message": "kept"})

    outcome = await functions_worker.timer("apply_retention", past_due=True)

    assert outcome.succeeded, outcome.error
    assert (await get_job(functions_worker, job_id))["state"] == "queued"  # young jobs stay


async def test_every_function_of_the_app_runs_through_the_worker(
    functions_worker: FunctionsWorker, runtime: Runtime
) -> None:
    """A tour of the whole app through the worker's invocation path, each step checked."""
    w = functions_worker
    w.invoked.clear()

    async def ok(name: str, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        outcome = await w.http(name, method, path, **kw)
        assert outcome.succeeded, outcome.error
        assert outcome.status == status, (name, outcome.returned)
        return outcome.json() if outcome.returned["body"] else None

    types = await ok("list_job_types", "GET", "v1/job-types")
    assert {"echo", "simulate"} <= {t["job_type"] for t in types["items"]}
    assert (await ok("openapi_document", "GET", "v1/openapi.json"))["openapi"].startswith("3.")
    batch = await ok(
        "submit_jobs",
        "POST",
        "v1/jobs:batch",
        body={
            "jobs": [
                {"job_type": "echo", "payload": {"message": "high"}, "priority": "high"},
                {"job_type": "echo", "payload": {"message": "low"}, "priority": "low"},
            ]
        },
    )
    assert [(i["status"], i["job"]["state"]) for i in batch["items"]] == [(202, "queued")] * 2
    for queue_name in ("dtq-jobs-high", "dtq-jobs-low"):
        outcome = await deliver(w, runtime, queue_name)
        assert outcome.succeeded, outcome.error
    listed = await ok("list_jobs", "GET", "v1/jobs", query={"state": "completed"})
    assert len(listed["items"]) == 2

    doomed = await submit(w, "simulate", {"duration_ms": 0, "fail_permanently": True})
    await deliver(w, runtime)
    assert (await get_job(w, doomed))["state"] == "failed"
    assert [j["job_id"] for j in (await ok("list_dead_letters", "GET", "v1/dlq"))["items"]] == [
        doomed
    ]
    requeued = await ok(
        "requeue_dead_letter",
        "POST",
        f"v1/dlq/{doomed}/requeue",
        202,
        route_params={"job_id": doomed},
    )
    assert requeued["state"] == "queued"
    await deliver(w, runtime)
    bulk = await ok("requeue_dead_letters", "POST", "v1/dlq/requeue", body={"job_type": "simulate"})
    assert bulk["job_ids"] == [doomed]
    await deliver(w, runtime)
    purged = await ok("purge_dead_letters", "POST", "v1/dlq/purge", body={"job_type": "simulate"})
    assert purged["job_ids"] == [doomed]
    await ok(
        "purge_dead_letter", "DELETE", f"v1/dlq/{doomed}", 404, route_params={"job_id": doomed}
    )
    assert (await ok("list_dead_lettered_messages", "GET", "v1/dlq/messages"))["items"] == []

    hooked = await submit(w, "echo", {"message": "hook"}, callback_url="https://dtq-hook.invalid/h")
    await deliver(w, runtime)
    outcome = await deliver(w, runtime, "dtq-webhooks")
    assert outcome.succeeded, outcome.error
    webhook = (await get_job(w, hooked))["webhook"]
    assert (webhook["state"], webhook["attempts_made"]) == ("pending", 1)
    assert "does not resolve" in webhook["attempts"][0]["error"]
    secret = await ok("get_webhook_secret", "GET", "v1/webhooks/secret")
    assert secret["secret"].startswith("whsec_")
    rotated = await ok("rotate_webhook_secret", "POST", "v1/webhooks/secret:rotate", body={})
    assert rotated["secret"] != secret["secret"] and rotated["previous_signs_until"]

    tick = {"job_type": "echo", "payload": {"message": "tick"}}
    body = {"name": "nightly", "cron": "30 1 * * *", "timezone": "Europe/London"}
    made = await ok("create_schedule", "POST", "v1/schedules", 201, body={**body, "template": tick})
    sid, at = made["schedule_id"], {"route_params": {"schedule_id": made["schedule_id"]}}
    assert [
        s["schedule_id"] for s in (await ok("list_schedules", "GET", "v1/schedules"))["items"]
    ] == [sid]
    detail = await ok("get_schedule", "GET", f"v1/schedules/{sid}", **at)
    assert len(detail["next_fire_times"]) == 5 and detail["jobs"] == []
    changed = await ok("update_schedule", "PATCH", f"v1/schedules/{sid}", body={"name": "n"}, **at)
    assert changed["name"] == "n"
    paused = await ok(
        "schedule_action",
        "POST",
        f"v1/schedules/{sid}:pause",
        route_params={"schedule_id": f"{sid}:pause"},
    )
    assert paused["paused"] is True
    await ok("delete_schedule", "DELETE", f"v1/schedules/{sid}", 204, **at)

    held = await ok("pause", "POST", "v1/pauses", 201, body={"job_type": "echo"})
    assert (held["kind"], held["value"]) == ("job_type", "echo")
    assert [p["value"] for p in (await ok("list_pauses", "GET", "v1/pauses"))["items"]] == ["echo"]
    resumed = await ok(
        "resume",
        "DELETE",
        "v1/pauses/job_type/echo",
        route_params={"kind": "job_type", "value": "echo"},
    )
    assert resumed["resumed"] is True

    waiting = await submit(w, "echo", {"message": "cancelled"})
    cancelled = await ok(
        "cancel_job", "DELETE", f"v1/jobs/{waiting}", route_params={"job_id": waiting}
    )
    assert cancelled["state"] == "cancelled"

    done = str(listed["items"][0]["job_id"])
    result = await ok(
        "get_job_result", "GET", f"v1/jobs/{done}/result", route_params={"job_id": done}
    )
    assert "high" in json.dumps(result) or "low" in json.dumps(result)
    logs = await ok("get_job_logs", "GET", f"v1/jobs/{done}/logs", route_params={"job_id": done})
    assert logs["job_id"] == done and logs["state"] == "completed"
    stats = await ok("stats", "GET", "v1/stats")
    assert stats["jobs"]["by_state"]["completed"] == 3  # the two echoes and the hooked one
    assert (await ok("health", "GET", "v1/healthz"))["ok"] is True
    # In Azure the metrics go to Application Insights; only the local host serves them.
    assert "Application Insights" in (await ok("metrics", "GET", "metrics", 404))["detail"]

    for timer in ("reconcile_dead_letters", "apply_retention", "sweep_webhooks", "fire_schedules"):
        outcome = await w.timer(timer)
        assert outcome.succeeded, outcome.error

    # negotiate and push_job_events have tests of their own above.
    missing = set(w.functions) - w.invoked - {"negotiate", "push_job_events"}
    assert not missing, f"not invoked through the worker: {sorted(missing)}"


async def test_an_unchanged_job_is_304_described_as_json(
    functions_worker: FunctionsWorker, runtime: Runtime
) -> None:
    job_id = await submit(functions_worker, "echo", {"message": "same"})
    first = await functions_worker.http(
        "get_job", "GET", f"v1/jobs/{job_id}", route_params={"job_id": job_id}
    )
    etag = first.returned["headers"]["ETag"]

    again = await functions_worker.http(
        "get_job",
        "GET",
        f"v1/jobs/{job_id}",
        route_params={"job_id": job_id},
        headers={"If-None-Match": etag},
    )

    assert again.status == 304
    assert again.returned["headers"]["ETag"] == etag
    # The representation it stands for is JSON, not the text/plain default.
    assert again.returned["headers"]["content-type"] == "application/json"
