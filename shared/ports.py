"""The ports: what the services need from the outside world.

Each port has several implementations (embedded SQLite; Azure Service Bus,
Table storage, Cosmos DB) and one contract test suite in ``tests/contract``.
Implementations raise the errors of :mod:`shared.errors`, never their SDK's own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Generic, Protocol, TypeVar, runtime_checkable

from shared.errors import TooLarge
from shared.jobs import Job, JobState

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    #: Opaque; pass it back to get the next page. None on the last page.
    next_cursor: str | None = None


# --- JobQueue -------------------------------------------------------------------

#: Largest message a JobQueue takes, body and properties: Service Bus Standard's 256 KB.
#: Every implementation refuses a larger one with :class:`shared.errors.TooLarge` before
#: anything of its send is sent, so both hosts carry the same messages.
MAX_MESSAGE_BYTES: Final = 256 * 1024


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to send. ``message_id`` drives duplicate detection."""

    message_id: str
    body: bytes
    application_properties: dict[str, str | int] = field(default_factory=dict)
    #: Deliver no earlier than this (a Service Bus scheduled message).
    scheduled_enqueue_time: datetime | None = None
    content_type: str = "application/json"


@dataclass(frozen=True)
class ReceivedMessage:
    """A message held under a peek-lock (or peeked from the dead-letter queue)."""

    message_id: str
    body: bytes
    application_properties: dict[str, str | int]
    delivery_count: int
    enqueued_time: datetime
    sequence_number: int
    lock_token: str
    locked_until: datetime
    content_type: str = "application/json"
    dead_letter_reason: str | None = None
    dead_letter_description: str | None = None


@dataclass(frozen=True)
class QueueDepth:
    active: int
    scheduled: int
    dead_lettered: int


@runtime_checkable
class JobQueue(Protocol):
    """A queue with Service Bus peek-lock semantics.

    - ``send`` drops a message whose ``message_id`` was seen within the duplicate
      detection window (silently, as Service Bus does).
    - ``receive`` locks messages for the queue's lock duration and increments their
      delivery count. A message whose lock expires becomes receivable again.
    - A message delivered ``max_delivery_count`` times and then abandoned (or whose
      lock expires) moves to the dead-letter queue with reason
      ``MaxDeliveryCountExceeded``.
    - Settling with a stale lock raises :class:`shared.errors.MessageLockLost`.
    """

    queue_name: str
    lock_duration: float
    max_delivery_count: int

    async def send(self, messages: Sequence[OutgoingMessage]) -> None: ...

    async def receive(self, max_messages: int = 1, max_wait: float = 5.0) -> list[ReceivedMessage]:
        """Wait up to ``max_wait`` seconds for at least one message; [] if none came."""
        ...

    async def renew_lock(self, message: ReceivedMessage) -> datetime: ...

    async def complete(self, message: ReceivedMessage) -> None: ...

    async def abandon(self, message: ReceivedMessage) -> None: ...

    async def dead_letter(
        self, message: ReceivedMessage, reason: str, description: str = ""
    ) -> None: ...

    async def peek_dead_letters(
        self, max_messages: int = 50, from_sequence_number: int = 0
    ) -> list[ReceivedMessage]:
        """Dead-lettered messages in sequence order, from ``from_sequence_number`` on."""
        ...

    async def depth(self) -> QueueDepth: ...

    async def close(self) -> None: ...


# --- StatusStore ----------------------------------------------------------------

#: Largest job a StatusStore keeps: its JSON measured in UTF-16 bytes, as Table storage
#: counts strings (a status row splits it over 15 properties of at most 64,000 bytes,
#: under the 64 KiB property and 1 MiB entity limits). Every implementation refuses a
#: larger job with :class:`shared.errors.TooLarge`, so both hosts keep the same jobs.
MAX_JOB_UTF16_BYTES: Final = 950_000


_MARKER_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,200}")
#: Longest marker value a StatusStore keeps.
MAX_MARKER_CHARS: Final = 1000


def marker_name(name: str) -> str:
    """``name``, checked to be a valid marker name (ValueError otherwise)."""
    if not _MARKER_NAME.fullmatch(name):
        raise ValueError(f"marker name {name!r} is not 1 to 200 of A-Za-z0-9_.@-")
    return name


def marker_value(value: str) -> str:
    """``value``, checked to fit a marker (ValueError otherwise)."""
    if len(value) > MAX_MARKER_CHARS:
        raise ValueError(f"a marker value holds at most {MAX_MARKER_CHARS} characters")
    return value


def utf16_bytes(text: str) -> int:
    """``text``'s size as UTF-16 (what Table storage counts): 2 bytes per character of
    the Basic Multilingual Plane, 4 for each other one (an emoji is a surrogate pair)."""
    return len(text.encode("utf-16-le", "surrogatepass"))


def job_json(job: Job) -> str:
    """The job's JSON as a StatusStore keeps it, or TooLarge past the size a Table status
    row holds (the same limit on both hosts)."""
    data = job.model_dump_json()
    size = utf16_bytes(data)
    if size > MAX_JOB_UTF16_BYTES:
        raise TooLarge(
            f"job {job.job_id} is {size:,} bytes as UTF-16 JSON; a job's status holds at"
            f" most {MAX_JOB_UTF16_BYTES:,} (Table storage's 1 MiB entity limit)",
            MAX_JOB_UTF16_BYTES,
        )
    return data


@dataclass(frozen=True)
class JobCounts:
    """A tenant's jobs counted: by state and type, and completions per minute."""

    #: (state, job_type) -> number of jobs
    by_state_and_type: dict[tuple[str, str], int]
    #: (minute, jobs completed in it), oldest first; minutes without any are left out
    completed_per_minute: list[tuple[datetime, int]]
    #: True when the store stopped counting at its scan limit (the counts are a floor)
    truncated: bool = False


@runtime_checkable
class StatusStore(Protocol):
    """Hot job status with conditional writes.

    ``replace`` succeeds only if the stored version still carries ``job.etag``;
    otherwise it raises :class:`shared.errors.PreconditionFailed`. Every returned
    job carries its current etag.
    """

    async def create(self, job: Job) -> Job: ...

    async def get(self, tenant_id: str, job_id: str) -> Job:
        """The tenant's job, or :class:`shared.errors.NotFound` (also for another
        tenant's job)."""
        ...

    async def replace(self, job: Job) -> Job: ...

    async def delete(self, tenant_id: str, job_id: str) -> None: ...

    async def list(
        self,
        tenant_id: str,
        *,
        state: JobState | None = None,
        job_type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Job]:
        """A tenant's jobs, newest first."""
        ...

    async def purge_finished(self, finished_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` jobs of any tenant that reached a terminal state before
        ``finished_before``; returns how many were deleted (retention)."""
        ...

    async def rebuild_index(self, recount: bool = False) -> int:
        """Make what the lists and ``counts`` read from the jobs themselves (``dtq
        rebuild-index``): index the jobs a store written before its indexes holds,
        safely beside writers; with ``recount`` also count every job again (a repair
        that may need the writers stopped: docs/storage.md). Returns the jobs seen."""
        ...

    async def counts(self, tenant_id: str, completed_since: datetime) -> JobCounts:
        """The tenant's jobs by state and type, and those completed since
        ``completed_since`` per minute."""
        ...

    async def get_marker(self, name: str) -> str | None:
        """A small named value kept beside the jobs, shared by every instance (e.g. where
        the reconciler is in each dead-letter queue); None if never written. ``name`` is
        1 to 200 of ``A-Za-z0-9_.@-``."""
        ...

    async def put_marker(self, name: str, value: str) -> None:
        """Write ``name``'s value (up to 1,000 characters; the last writer wins)."""
        ...

    async def ping(self) -> None:
        """Raise :class:`shared.errors.BackendUnavailable` if the store cannot be reached."""
        ...

    async def close(self) -> None: ...


# --- ResultStore ----------------------------------------------------------------


@dataclass(frozen=True)
class StoredResult:
    job_id: str
    tenant_id: str
    result: Any
    created_at: datetime


#: Default largest result a ResultStore keeps, as compact JSON in UTF-8 (non-ASCII
#: escaped, as the Cosmos DB SDK sends it): 1 MiB, half Cosmos DB's 2 MB item limit.
MAX_RESULT_BYTES: Final = 1_048_576


def result_json(result: Any) -> str:
    """``result`` as the compact JSON text whose length the result size limit counts."""
    return json.dumps(result, separators=(",", ":"))


@runtime_checkable
class ResultStore(Protocol):
    """Job results, written once per job id."""

    async def put(self, job_id: str, tenant_id: str, result: Any) -> bool:
        """Store ``result``; False (and no change) if the job already has one;
        :class:`shared.errors.TooLarge` (and no change) if its JSON is over the store's
        limit (:data:`MAX_RESULT_BYTES` unless configured otherwise)."""
        ...

    async def get(self, job_id: str) -> StoredResult | None: ...

    async def purge_older(self, created_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` results stored before ``created_before``; stores whose
        service expires items itself (Cosmos DB TTL) return 0."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


# --- IdempotencyKeys --------------------------------------------------------------


@dataclass(frozen=True)
class IdempotencyRecord:
    """What an ``Idempotency-Key`` stands for: the job it created, and a hash of the
    request that created it."""

    job_id: str
    request_hash: str
    expires_at: datetime
    #: True when this claim created the record (the caller goes on to create the job).
    created: bool


@runtime_checkable
class IdempotencyKeys(Protocol):
    """A tenant's idempotency keys, each claimed by one request at a time."""

    async def claim(
        self,
        tenant_id: str,
        key: str,
        request_hash: str,
        job_id: str,
        expires_at: datetime,
        now: datetime,
    ) -> IdempotencyRecord:
        """Atomically record ``key -> (job_id, request_hash)`` if the key is new or its
        record expired (``created=True``); otherwise return the live record unchanged
        (``created=False``). Two racing claims: exactly one creates."""
        ...

    async def release(self, tenant_id: str, key: str, job_id: str) -> None:
        """Forget the key if it still stands for ``job_id`` (its submit failed)."""
        ...

    async def purge_expired(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` records that expired before ``now``."""
        ...

    async def close(self) -> None: ...


# --- WorkerRegistry (local host) ---------------------------------------------------


@dataclass(frozen=True)
class WorkerBeat:
    """One worker process, as its last heartbeat described it."""

    worker_id: str
    pid: int
    hostname: str
    started_at: datetime
    last_seen: datetime
    #: Invocations running now, and run since the process started.
    in_flight: int
    invocations: int
    queues: list[str]


@runtime_checkable
class WorkerRegistry(Protocol):
    """Heartbeats of the local host's worker processes (in Azure the platform runs the
    instances and this port is not used)."""

    async def beat(self, beat: WorkerBeat) -> None: ...

    async def live(self, seen_since: datetime) -> list[WorkerBeat]: ...

    async def forget(self, worker_id: str) -> None: ...


# --- ApiKeyStore --------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKey:
    """An API key of a tenant. Only a hash of its secret is ever stored."""

    key_id: str
    tenant_id: str
    name: str
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None


@runtime_checkable
class ApiKeyStore(Protocol):
    async def add(self, key: ApiKey) -> None:
        """Store a new key; Conflict if its id exists."""
        ...

    async def get(self, key_id: str) -> ApiKey:
        """The key, or NotFound."""
        ...

    async def list(self, tenant_id: str | None = None) -> list[ApiKey]:
        """Every key (of ``tenant_id``), oldest first."""
        ...

    async def revoke(self, key_id: str, at: datetime) -> ApiKey:
        """Mark the key revoked (NotFound if there is none); revoking twice keeps the
        first time."""
        ...

    async def close(self) -> None: ...


# --- RateCounters -------------------------------------------------------------------


@runtime_checkable
class RateCounters(Protocol):
    """Per-tenant counters of fixed time windows, shared by every API instance."""

    async def add(self, tenant_id: str, window: datetime, n: int, limit: int) -> bool:
        """Add ``n`` to the tenant's count of ``window`` if the total stays within
        ``limit`` (True); otherwise change nothing (False). Atomic across instances."""
        ...

    async def purge_before(self, window: datetime, limit: int) -> int:
        """Delete up to ``limit`` counters of windows before ``window``."""
        ...

    async def close(self) -> None: ...


# --- RunSlots -----------------------------------------------------------------------


@runtime_checkable
class RunSlots(Protocol):
    """Per-tenant slots for running jobs (the running cap), held under leases so a
    crashed worker's slot frees itself, shared by every worker instance."""

    async def acquire(
        self, tenant_id: str, job_id: str, cap: int, lease_until: datetime, now: datetime
    ) -> bool:
        """Hold a slot for ``job_id`` until ``lease_until`` if fewer than ``cap`` live
        leases of the tenant exist, or if ``job_id`` holds one already (renewed)."""
        ...

    async def release(self, tenant_id: str, job_id: str) -> None: ...

    async def close(self) -> None: ...


# --- WebhookStore -------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookSecrets:
    """A tenant's webhook signing secrets: ``current``, and the one it replaced while
    that still signs too (until ``previous_until``)."""

    tenant_id: str
    current: str
    previous: str | None = None
    previous_until: datetime | None = None

    def signing(self, now: datetime) -> list[str]:
        """The secrets a webhook sent at ``now`` is signed with."""
        if self.previous and self.previous_until and now < self.previous_until:
            return [self.current, self.previous]
        return [self.current]


@dataclass(frozen=True)
class PendingDelivery:
    """A job end whose delivery is not over: the sweep looks at it once ``due_at``
    passed, and keeps it (due again later) until the delivery is delivered or given up
    (shared/webhooks/outbox.py)."""

    tenant_id: str
    job_id: str
    event_id: str
    due_at: datetime


@runtime_checkable
class WebhookStore(Protocol):
    """Each tenant's webhook secrets, and the outbox of job ends to check on."""

    async def secrets(self, tenant_id: str, candidate: str) -> WebhookSecrets:
        """The tenant's secrets; if it has none, ``candidate`` becomes its secret, once
        (concurrent first calls all get the one that was stored)."""
        ...

    async def rotate(self, tenant_id: str, new: str, previous_until: datetime) -> WebhookSecrets:
        """``new`` becomes the current secret; the current one (if any) keeps signing
        until ``previous_until``. Concurrent rotations each land whole, one after the
        other."""
        ...

    async def track(self, pending: PendingDelivery) -> None:
        """Keep ``pending`` until :meth:`forget` (writing it again changes nothing)."""
        ...

    async def due(self, before: datetime, limit: int) -> list[PendingDelivery]:
        """Up to ``limit`` of the kept deliveries due before ``before``, earliest first."""
        ...

    async def forget(self, pending: PendingDelivery) -> None:
        """Drop ``pending`` (nothing if it is not kept)."""
        ...

    async def close(self) -> None: ...
