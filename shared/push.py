"""Live updates through Azure SignalR Service (serverless mode), with the Functions
SignalR bindings doing the talking:

1. Every change to a job (created, started, progress, retrying, finished, cancelled,
   requeued) is stored through :class:`PublishingStatusStore`, which then sends a lean
   view of the job to the events queue (``DTQ_EVENTS_QUEUE``): the job as the API
   shows it without its payload and its list of errors, with long texts cut, so an
   event stays far below Service Bus's 256 KB message limit whatever the job carries
   (:data:`MAX_EVENT_BYTES`). A client that needs the payload or every error reads
   ``GET /jobs/{id}``.
2. The ``push_job_events`` function (functions/push.py) takes those events in batches
   and returns SignalR messages through its output binding: target ``jobUpdated``, one
   argument, the job; sent to the job's group and to its tenant's group.
3. The ``negotiate`` function hands a browser a connection (input binding) for a user
   id the browser made up, and adds that user to its tenant's group, or to one job's
   group, through the output binding.

The events queue exists because an output binding sends only when its function returns,
while progress changes happen in the middle of a run.

The same two functions run on the local host: ``dtq serve`` serves a stand-in for Azure
SignalR Service at ``/signalr`` (dtq/host/signalr.py) and sets
``AzureSignalRConnectionString`` to it, plays the two bindings (dtq/host/bindings.py:
the connection info, and the output carried out through the service's REST API), and
runs ``push_job_events`` in its worker processes. Where no SignalR connection is set at
all (a process outside both hosts), nothing is published and the UI polls.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shared.constants import PROP_JOB_ID, PROP_TENANT_ID
from shared.errors import BackendUnavailable, TooLarge
from shared.jobs import Job
from shared.ports import JobQueue, OutgoingMessage, StatusStore
from shared.store_decorators import DelegatingStatusStore

log = logging.getLogger(__name__)

#: The client method the UI listens to (static-web/js/push.js).
TARGET = "jobUpdated"
#: The request header carrying the user id a browser chose for its connection.
PUSH_ID_HEADER = "x-dtq-push-id"
#: Fields of the public job an event leaves out: they grow without bound (a payload up
#: to the request limit, one error per attempt).
LEFT_OUT = ("payload", "errors")
#: Longest error message or dead-letter description an event carries.
EVENT_TEXT_CHARS = 1000
#: Largest event body: a job id, a tenant id, a job type, a stage and two cut texts, as
#: JSON with every non-ASCII character escaped, stay under it (Service Bus takes 256 KB).
MAX_EVENT_BYTES = 32 * 1024


def _cut(text: str) -> str:
    return text if len(text) <= EVENT_TEXT_CHARS else text[: EVENT_TEXT_CHARS - 1] + "\u2026"


def lean_job(job: Job) -> dict[str, Any]:
    """What an event says about ``job``: every field the UI reads from a pushed update
    (ids, state, progress, stage, attempts, timestamps, the last error, the dead-letter
    record) and none that grows without bound."""
    view = {k: v for k, v in job.to_public().items() if k not in LEFT_OUT}
    view["stage"] = _cut(view["stage"])
    if view.get("error"):
        view["error"] = {**view["error"], "message": _cut(view["error"]["message"])}
    if view.get("dead_letter"):
        dead = view["dead_letter"]
        view["dead_letter"] = {**dead, "description": _cut(dead["description"])}
    return view


def tenant_group(tenant_id: str) -> str:
    return f"tenant-{tenant_id}"


def job_group(job_id: str) -> str:
    return f"job-{job_id}"


def event_message(job: Job) -> OutgoingMessage:
    """The events-queue message for one change of ``job`` (as stored: its etag tells
    apart two writes with the same ``updated_at``, e.g. a logs-only write after a
    progress step, which a queue with duplicate detection would otherwise drop)."""
    written = f".{job.etag}" if job.etag else ""
    return OutgoingMessage(
        message_id=f"{job.job_id}.{job.updated_at.timestamp():.6f}{written}"[:128],
        body=json.dumps({"job": lean_job(job)}, default=str).encode(),
        application_properties={PROP_JOB_ID: job.job_id, PROP_TENANT_ID: job.tenant_id},
    )


def signalr_messages(bodies: Iterable[bytes]) -> list[dict[str, Any]]:
    """The SignalR output binding's messages for a batch of events: the newest state of
    each job (a batch often holds several progress steps of one job), to its job group
    and its tenant group. Undecodable events are dropped with a warning."""
    latest: dict[str, tuple[datetime, dict[str, Any]]] = {}  # job id -> (updated, job)
    for body in bodies:
        try:
            job = json.loads(body)["job"]
            job_id, updated = job["job_id"], _when(job["updated_at"])
            if "tenant_id" not in job:
                raise KeyError("tenant_id")
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("dropped an undecodable job event: %s", exc)
            continue
        if job_id not in latest or updated >= latest[job_id][0]:
            latest[job_id] = (updated, job)
    messages: list[dict[str, Any]] = []
    for _, job in latest.values():
        for group in (job_group(job["job_id"]), tenant_group(job["tenant_id"])):
            messages.append({"target": TARGET, "arguments": [job], "groupName": group})
    return messages


def group_action(user_id: str, group: str) -> dict[str, str]:
    """The SignalR output binding's action adding ``user_id`` to ``group``."""
    return {"userId": user_id, "groupName": group, "action": "add"}


def _when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


class PublishingStatusStore(DelegatingStatusStore):
    """A StatusStore that publishes each job it creates or replaces to the events
    queue. A failed publish is logged, never raised: push is a convenience, the store
    is the truth (pollers still see every change)."""

    def __init__(self, inner: StatusStore, events: JobQueue):
        super().__init__(inner)
        self.events = events

    async def _publish(self, job: Job) -> None:
        try:
            await self.events.send([event_message(job)])
        except (BackendUnavailable, TooLarge, OSError) as exc:
            log.warning("job %s: live update not published (%s)", job.job_id, exc)

    async def create(self, job: Job) -> Job:
        stored = await self.inner.create(job)
        await self._publish(stored)
        return stored

    async def replace(self, job: Job) -> Job:
        stored = await self.inner.replace(job)
        await self._publish(stored)
        return stored

    async def close(self) -> None:
        await self.inner.close()
        await self.events.close()
