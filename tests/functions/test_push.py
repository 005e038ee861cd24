"""SignalR push at the binding and payload level (no SignalR service runs here): the
functions' binding declarations as the Functions host reads them, what negotiate and
push_job_events put in their output bindings, and the events the status store sends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.functions.servicebus import ServiceBusMessage

import function_app
from functions import api, push
from shared.composition import Runtime
from shared.errors import TooLarge
from shared.jobs import DeadLetter, Job, JobState
from shared.messages import Delivery, JobMessage
from shared.push import MAX_EVENT_BYTES, PublishingStatusStore, event_message, signalr_messages
from shared.settings import Settings
from tests.support.triggers import as_json, installed, request, user_function


class Out:
    """What an output binding was set to."""

    def __init__(self) -> None:
        self.value: str | None = None

    def set(self, value: str) -> None:
        self.value = value

    def get(self) -> str | None:
        return self.value


def bindings(name: str) -> list[dict[str, Any]]:
    for fn in function_app.create_app().get_functions():
        if fn.get_function_name() == name:
            return list(json.loads(fn.get_function_json())["bindings"])
    raise KeyError(name)


def test_negotiate_declares_a_connection_for_the_callers_push_id_and_a_group_output() -> None:
    declared = {b["type"]: b for b in bindings("negotiate")}
    info = declared["signalRConnectionInfo"]
    assert info["direction"] == "IN" and info["userId"] == "{headers.x-dtq-push-id}"
    assert info["hubName"] == "%DTQ_SIGNALR_HUB%"
    assert info["connectionStringSetting"] == "AzureSignalRConnectionString"
    assert declared["signalR"]["direction"] == "OUT" and declared["signalR"]["name"] == "groups"
    assert declared["httpTrigger"]["route"] == "negotiate"
    assert declared["httpTrigger"]["methods"] == ["POST"]
    assert declared["httpTrigger"]["authLevel"] == "ANONYMOUS", "dtq checks keys itself"


def test_push_takes_event_batches_from_the_events_queue_into_signalr() -> None:
    declared = {b["type"]: b for b in bindings("push_job_events")}
    trigger = declared["serviceBusTrigger"]
    assert trigger["queueName"] == "%DTQ_EVENTS_QUEUE%" and trigger["cardinality"] == "MANY"
    assert trigger["connection"] == "ServiceBusConnection"
    assert declared["signalR"]["hubName"] == "%DTQ_SIGNALR_HUB%"


@pytest.fixture
async def pushing(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings.load(
        None, data_dir=tmp_path, signalr_connection="Endpoint=https://x.service.signalr.net;"
    )
    async with installed(Runtime.from_settings(settings)) as rt:
        yield rt


async def test_negotiate_adds_the_callers_push_id_to_its_tenant_group(pushing: Runtime) -> None:
    negotiate = user_function(push.bp, "negotiate")
    groups = Out()
    connection = json.dumps(
        {"url": "https://x.service.signalr.net/client/?hub=dtq", "accessToken": "t"}
    )
    push_id = "0f8c2a7e-5b1d-4c3e-9a6f-2d4b8e1c7a90"
    response = await negotiate(
        request("POST", "negotiate", headers={"x-dtq-push-id": push_id}),
        connection=connection,
        groups=groups,
    )
    assert response.status_code == 200
    assert as_json(response) == {
        "url": "https://x.service.signalr.net/client/?hub=dtq",
        "accessToken": "t",
        "group": "tenant-local",
    }
    assert json.loads(groups.value or "") == [
        {"userId": push_id, "groupName": "tenant-local", "action": "add"}
    ]

    refused = await negotiate(
        request("POST", "negotiate", headers={"x-dtq-push-id": "short"}),
        connection=connection,
        groups=Out(),
    )
    assert refused.status_code == 400


async def test_negotiate_for_one_job_checks_it_is_the_callers(pushing: Runtime) -> None:
    submitted = await user_function(api.bp, "submit_job")(
        request("POST", "v1/jobs", {"job_type": "echo", "payload": {"message": "one"}})
    )
    job_id = as_json(submitted)["job_id"]
    negotiate = user_function(push.bp, "negotiate")
    headers = {"x-dtq-push-id": "a" * 32}
    connection = json.dumps({"url": "u", "accessToken": "t"})
    groups = Out()
    mine = await negotiate(
        request("POST", "negotiate", headers=headers, params={"job_id": job_id}),
        connection=connection,
        groups=groups,
    )
    assert mine.status_code == 200 and as_json(mine)["group"] == f"job-{job_id}"
    missing = await negotiate(
        request("POST", "negotiate", headers=headers, params={"job_id": "01k" + "z" * 23}),
        connection=connection,
        groups=Out(),
    )
    assert missing.status_code == 404


async def test_every_change_of_a_job_is_published_and_pushed_to_its_groups(
    pushing: Runtime,
) -> None:
    assert isinstance(pushing.status, PublishingStatusStore)
    submitted = await user_function(api.bp, "submit_job")(
        request(
            "POST", "v1/jobs", {"job_type": "simulate", "payload": {"duration_ms": 10, "steps": 2}}
        )
    )
    job = as_json(submitted)
    [message] = await pushing.queue(pushing.settings.jobs_queue).receive(1, max_wait=1)
    await pushing.worker.handle(
        Delivery(
            JobMessage.decode(message.body, message.application_properties), message.message_id, 1
        )
    )
    assert pushing.status.events.queue_name == pushing.settings.events_queue
    events = await pushing.status.events.receive(50, max_wait=1)
    seen = [json.loads(e.body)["job"] for e in events]
    states = [(j["state"], j["progress"]) for j in seen if j["job_id"] == job["job_id"]]
    assert states[0] == ("queued", 0) and states[-1] == ("completed", 100)
    assert ("running", 50) in states, "progress changes are published too"

    batch = [
        ServiceBusMessage(
            body=e.body,
            message_id=e.message_id,
            delivery_count=1,
            enqueued_time_utc=datetime.now(UTC),
            application_properties={},
            user_properties={},
        )
        for e in reversed(events)  # out of order: the newest state must still win
    ]
    out = Out()
    push_fn = user_function(push.bp, "push_job_events")
    push_fn(events=batch, signalr=out)
    sent = json.loads(out.value or "")
    assert {m["groupName"] for m in sent} == {f"job-{job['job_id']}", "tenant-local"}
    assert all(m["target"] == "jobUpdated" for m in sent)
    assert [m["arguments"][0]["state"] for m in sent] == ["completed", "completed"], (
        "one state per job"
    )


def test_an_event_stays_small_whatever_the_job_carries() -> None:
    """Service Bus refuses a message over 256 KB: an event leaves out the payload and the
    list of errors, and cuts long texts, so its size is bounded; it still carries what
    the UI reads from a pushed update."""
    job = Job.new(
        tenant_id="t" * 200,
        job_type="echo",
        payload={"message": "\U0001f600" * 300_000},  # 1.2 MB of payload, 3.6 MB escaped
        max_attempts=100,
    )
    running = job.moved_to(JobState.RUNNING, attempt=1, progress=40, stage="\u00e9" * 5000)
    for attempt in range(1, 101):
        error = running.failure("Boom", "\U0001f4a5" * 5000, retryable=True, now=running.updated_at)
        running = running.model_copy(
            update={"attempt": attempt, "error": error, "errors": [*running.errors, error]}
        )
    failed = running.moved_to(
        JobState.FAILED,
        dead_letter=DeadLetter(
            reason="MaxAttemptsExceeded", description="\U0001f4a5" * 5000, at=running.updated_at
        ),
    )
    for version in (job, running, failed):
        body = event_message(version).body
        assert len(body) <= MAX_EVENT_BYTES < 256 * 1024, len(body)
        event = json.loads(body)["job"]
        assert "payload" not in event and "errors" not in event
        for field in (
            "job_id",
            "tenant_id",
            "job_type",
            "state",
            "progress",
            "stage",
            "attempt",
            "max_attempts",
            "created_at",
            "updated_at",
            "priority",
        ):
            assert field in event, field
    event = json.loads(event_message(failed).body)["job"]
    assert event["state"] == "failed" and event["attempt"] == 100
    assert (
        event["error"]["type"] == "Boom" and event["dead_letter"]["reason"] == "MaxAttemptsExceeded"
    )
    assert signalr_messages([event_message(failed).body])[0]["arguments"][0] == event


def test_undecodable_events_are_dropped_not_fatal() -> None:
    good = json.dumps(
        {
            "job": {
                "job_id": "j1",
                "tenant_id": "t1",
                "updated_at": "2026-11-23T09:00:00+00:00",
                "state": "queued",
            }
        }
    ).encode()
    messages = signalr_messages([b"not json", json.dumps({"job": {}}).encode(), good])
    assert [m["groupName"] for m in messages] == ["job-j1", "tenant-t1"]


async def test_without_signalr_nothing_is_published(tmp_path: Path) -> None:
    rt = Runtime.from_settings(Settings.load(None, data_dir=tmp_path))
    try:
        assert not isinstance(rt.status, PublishingStatusStore)
    finally:
        await rt.close()


def test_the_local_host_leaves_the_signalr_functions_out() -> None:
    from dtq.host.catalog import build_catalog

    catalog = build_catalog(function_app.create_app(), Settings.load(None))
    assert catalog.skipped == {
        "negotiate": ["signalR", "signalRConnectionInfo"],
        "push_job_events": ["signalR"],
    }
    assert all(f.name != "negotiate" for f in catalog.http)


async def test_an_event_the_events_queue_refuses_never_fails_the_status_write(
    pushing: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(pushing.status, PublishingStatusStore)

    async def refuse(messages: Any) -> None:
        raise TooLarge("message over 262144 bytes", 262144)

    monkeypatch.setattr(pushing.status.events, "send", refuse)
    submitted = await user_function(api.bp, "submit_job")(
        request("POST", "v1/jobs", {"job_type": "echo", "payload": {"message": "kept"}})
    )

    assert submitted.status_code == 202
    stored = await pushing.status.get("local", as_json(submitted)["job_id"])
    assert stored.state is JobState.QUEUED


def test_two_writes_with_one_updated_at_are_two_events() -> None:
    """A logs-only write keeps ``updated_at``: its event must not carry the previous
    event's message id, or a queue with duplicate detection (the local host's) drops it."""
    job = Job.new(tenant_id="t", job_type="echo", payload={}, max_attempts=3)
    first, second = job.model_copy(update={"etag": "1"}), job.model_copy(update={"etag": "2"})
    assert event_message(first).message_id != event_message(second).message_id
    assert len(event_message(job.model_copy(update={"etag": "x" * 300})).message_id) <= 128
