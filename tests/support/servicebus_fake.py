"""An in-memory Service Bus namespace behind the azure-servicebus client surface that
dtq's adapter uses: a real implementation of peek-lock, not a mock.

Like the broker it stands in for, it keeps messages per queue with sequence numbers,
locks that expire (the message comes back with its delivery count raised), abandon,
complete, dead-lettering (explicitly, and past ``max_delivery_count``) into a
dead-letter sub-queue, scheduled messages, duplicate detection by ``message_id``
within a window, and runtime counts. Received messages look like the SDK's: the body
is an iterable of bytes sections and application property keys and string values
arrive as ``bytes``. Settling a message whose lock expired raises the SDK's
``MessageLockLostError``; settling one twice raises ``MessageAlreadySettled``.

Where Azure is strict, so is the fake:

- ``delivery_count`` is what ``azure-servicebus`` reports: the raw AMQP header, the
  number of *previous* deliveries (0 on the first receive). Peeked messages carry the
  broker's own count (Azure.Messaging.ServiceBus adds 1 to received messages' header
  and not to peeked ones: ``AmqpMessageConverter.AmqpMessageToSBReceivedMessage``).
- One async sender takes one send at a time: a send (or batch creation) that starts
  while another is under way on the same sender fails with the bare ``AttributeError``
  the SDK leaks (azure-sdk-for-python #36334, #35618). ``break_senders`` makes every
  existing sender fail so, as a sender left idle past the service's idle timeout does
  (#48921), until it is replaced.
- Size limits are the Standard tier's: 256 KB per message and per batch, measured by
  the SDK's own ``ServiceBusMessageBatch`` (AMQP-encoded size). ``create_message_batch``
  gives such a batch, whose ``add_message`` raises ``MessageSizeExceededError`` (a
  ``ValueError`` too); ``send_messages`` of a list, a batch or a message over the limit
  raises it as well.
- Order: a queue without sessions promises none. ``FakeNamespace(ordered=False)``
  hands out ready messages in a (seeded) random order, so a test that assumes FIFO
  fails against it.
- The administration client's calls (queue runtime properties) go over HTTP and fail
  with ``azure.core`` errors, not ``ServiceBusError``: ``ServiceRequestError`` when the
  namespace cannot be reached, an ``HttpResponseError`` with status 401 when
  ``management_denied`` (an identity without Manage rights, or local auth off for a
  key), ``ResourceNotFoundError`` for a missing queue.

State is guarded by a thread lock, so receivers on different event loops (threads)
share one namespace safely. Only the tests use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError
from azure.servicebus import ServiceBusMessage, ServiceBusMessageBatch, ServiceBusSubQueue
from azure.servicebus.exceptions import (
    MessageAlreadySettled,
    MessageLockLostError,
    MessageSizeExceededError,
    MessagingEntityNotFoundError,
    ServiceBusConnectionError,
)


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _wire(value: Any) -> Any:
    return value.encode() if isinstance(value, str) else value


@dataclass
class _Stored:
    sequence_number: int
    message_id: str
    body: bytes
    properties: dict[Any, Any]
    content_type: str | None
    enqueued_at: float
    visible_at: float
    #: Deliveries so far, as the broker counts them (1 during the first delivery).
    delivery_count: int = 0
    lock_token: str | None = None
    dead_letter_reason: str | None = None
    dead_letter_description: str | None = None


class FakeReceivedMessage:
    """What ``ServiceBusReceiver.receive_messages`` (or ``peek_messages``) returns, as
    far as dtq reads it."""

    def __init__(self, stored: _Stored, locked_until: float | None, peeked: bool = False) -> None:
        self._stored = stored
        self.message_id = stored.message_id
        self.sequence_number = stored.sequence_number
        #: The AMQP header's count: previous deliveries when received, all when peeked.
        self.delivery_count = stored.delivery_count if peeked else stored.delivery_count - 1
        self.lock_token = stored.lock_token
        self.locked_until_utc = _dt(locked_until)
        self.enqueued_time_utc = _dt(stored.enqueued_at)
        self.content_type = stored.content_type
        self.dead_letter_reason = stored.dead_letter_reason
        self.dead_letter_error_description = stored.dead_letter_description
        self.application_properties = {_wire(k): _wire(v) for k, v in stored.properties.items()}
        self._settled = False

    @property
    def body(self) -> Any:
        return iter([self._stored.body])


@dataclass
class FakeQueue:
    name: str
    lock_duration: float = 60.0
    max_delivery_count: int = 10
    duplicate_window: float = 600.0
    messages: dict[int, _Stored] = field(default_factory=dict)
    dead_letters: dict[int, _Stored] = field(default_factory=dict)
    seen_ids: dict[str, float] = field(default_factory=dict)


@dataclass
class _Counts:
    active_message_count: int
    scheduled_message_count: int
    dead_letter_message_count: int


class FakeNamespace:
    """A Service Bus namespace: queues and the operations the SDK would send to it."""

    #: Largest message and batch, in bytes (Standard tier; Premium allows larger).
    max_message_bytes = 256 * 1024

    def __init__(self, *, ordered: bool = True, seed: int | None = None) -> None:
        #: False: ready messages go out in random order (no FIFO without sessions).
        self.ordered = ordered
        self._random = random.Random(seed)
        self.queues: dict[str, FakeQueue] = {}
        self.lock = threading.RLock()
        self._sequence = itertools.count(1)
        self.available = True
        self.operations: dict[str, int] = {}
        self.senders: list[FakeSender] = []
        self.senders_break = False
        #: The administration client's requests are refused with 401.
        self.management_denied = False

    def create_queue(self, name: str, **options: Any) -> FakeQueue:
        with self.lock:
            queue = self.queues[name] = FakeQueue(name, **options)
            return queue

    def _queue(self, name: str, op: str) -> FakeQueue:
        if not self.available:
            raise ServiceBusConnectionError(message="the namespace cannot be reached")
        self.operations[op] = self.operations.get(op, 0) + 1
        try:
            return self.queues[name]
        except KeyError:
            raise MessagingEntityNotFoundError(message=f"queue {name} does not exist") from None

    def client(self) -> FakeClient:
        return FakeClient(self)

    def break_senders(self, *, new_ones_too: bool = False) -> None:
        """Every sender made so far (and with ``new_ones_too`` every later one) fails
        from now on, its handler gone."""
        self.senders_break = new_ones_too
        for sender in self.senders:
            sender.broken = True

    # -- broker operations ------------------------------------------------------------

    def send(self, queue_name: str, messages: list[ServiceBusMessage]) -> None:
        with self.lock:
            queue = self._queue(queue_name, "send")
            now = time.time()
            for m in messages:
                message_id = str(m.message_id or uuid.uuid4())
                seen = queue.seen_ids.get(message_id)
                if seen is not None and seen > now:
                    continue  # duplicate detection: dropped silently, as the broker does
                queue.seen_ids[message_id] = now + queue.duplicate_window
                scheduled = m.scheduled_enqueue_time_utc
                seq = next(self._sequence)
                queue.messages[seq] = _Stored(
                    sequence_number=seq,
                    message_id=message_id,
                    body=b"".join(m.body) if not isinstance(m.body, bytes) else m.body,
                    properties=dict(m.application_properties or {}),
                    content_type=m.content_type,
                    enqueued_at=now,
                    visible_at=max(now, scheduled.timestamp()) if scheduled else now,
                )

    def receive(self, queue_name: str, max_count: int) -> list[FakeReceivedMessage]:
        with self.lock:
            queue = self._queue(queue_name, "receive")
            now = time.time()
            ready = sorted(
                (m for m in queue.messages.values() if m.visible_at <= now),
                key=lambda m: (m.visible_at, m.sequence_number),
            )
            if not self.ordered:
                self._random.shuffle(ready)
            out: list[FakeReceivedMessage] = []
            for stored in ready:
                if len(out) >= max_count:
                    break
                if stored.delivery_count >= queue.max_delivery_count:
                    self._to_dlq(queue, stored, "MaxDeliveryCountExceeded", "too many deliveries")
                    continue
                stored.delivery_count += 1
                stored.lock_token = str(uuid.uuid4())
                stored.visible_at = now + queue.lock_duration
                out.append(FakeReceivedMessage(stored, stored.visible_at))
            return out

    def _held(self, queue: FakeQueue, message: FakeReceivedMessage) -> _Stored:
        if message._settled:
            raise MessageAlreadySettled()
        stored = queue.messages.get(message.sequence_number)
        if (
            stored is None
            or stored.lock_token != message.lock_token
            or stored.visible_at <= time.time()
        ):
            raise MessageLockLostError(message="the lock was lost or the message settled")
        return stored

    def settle(self, queue_name: str, message: FakeReceivedMessage, how: str, **dlq: str) -> None:
        with self.lock:
            queue = self._queue(queue_name, how)
            stored = self._held(queue, message)
            message._settled = True
            if how == "complete":
                del queue.messages[stored.sequence_number]
            elif how == "abandon":
                stored.lock_token = None
                stored.visible_at = time.time()
                if stored.delivery_count >= queue.max_delivery_count:
                    self._to_dlq(queue, stored, "MaxDeliveryCountExceeded", "too many deliveries")
            else:
                self._to_dlq(queue, stored, dlq.get("reason") or "", dlq.get("description") or "")

    def renew(self, queue_name: str, message: FakeReceivedMessage) -> datetime:
        with self.lock:
            queue = self._queue(queue_name, "renew_lock")
            stored = self._held(queue, message)
            stored.visible_at = time.time() + queue.lock_duration
            message.locked_until_utc = _dt(stored.visible_at)
            return message.locked_until_utc  # type: ignore[return-value]

    @staticmethod
    def _to_dlq(queue: FakeQueue, stored: _Stored, reason: str, description: str) -> None:
        queue.messages.pop(stored.sequence_number, None)
        stored.lock_token = None
        stored.dead_letter_reason = reason
        stored.dead_letter_description = description
        queue.dead_letters[stored.sequence_number] = stored

    def peek(
        self, queue_name: str, sub_queue: Any, max_count: int, from_sequence: int = 0
    ) -> list[FakeReceivedMessage]:
        with self.lock:
            queue = self._queue(queue_name, "peek")
            source = queue.dead_letters if sub_queue else queue.messages
            found = [m for seq, m in sorted(source.items()) if seq >= from_sequence]
            return [FakeReceivedMessage(m, None, peeked=True) for m in found[:max_count]]

    def counts(self, queue_name: str) -> _Counts:
        """The administration client's runtime properties (an HTTP call)."""
        with self.lock:
            if not self.available:
                raise ServiceRequestError("cannot connect to the namespace's HTTPS endpoint")
            if self.management_denied:
                denied = HttpResponseError("401 Unauthorized: the token lacks Manage rights")
                denied.status_code, denied.reason = 401, "Unauthorized"
                raise denied
            if queue_name not in self.queues:
                raise ResourceNotFoundError(f"Queue {queue_name} does not exist")
            queue = self._queue(queue_name, "runtime_properties")
            now = time.time()
            scheduled = sum(
                1 for m in queue.messages.values() if m.visible_at > now and m.lock_token is None
            )
            return _Counts(
                active_message_count=len(queue.messages) - scheduled,
                scheduled_message_count=scheduled,
                dead_letter_message_count=len(queue.dead_letters),
            )


class FakeClient:
    """``azure.servicebus.aio.ServiceBusClient`` (and the administration client's one call)."""

    def __init__(self, namespace: FakeNamespace) -> None:
        self.namespace = namespace

    def get_queue_sender(self, queue_name: str) -> FakeSender:
        sender = FakeSender(self.namespace, queue_name)
        sender.broken = self.namespace.senders_break
        self.namespace.senders.append(sender)
        return sender

    def get_queue_receiver(self, queue_name: str, **options: Any) -> FakeReceiver:
        return FakeReceiver(self.namespace, queue_name, options.get("sub_queue"))

    async def get_queue_runtime_properties(self, queue_name: str) -> _Counts:
        return self.namespace.counts(queue_name)

    async def close(self) -> None:
        pass


class FakeSender:
    def __init__(self, namespace: FakeNamespace, queue_name: str) -> None:
        self.namespace, self.queue_name = namespace, queue_name
        self.busy = False
        self.broken = False

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, attribute: str) -> AsyncIterator[None]:
        """The SDK's handler is reset under a concurrent caller: the caller gets a bare
        AttributeError, not a ServiceBusError."""
        if self.busy or self.broken:
            raise AttributeError(f"'NoneType' object has no attribute '{attribute}'")
        self.busy = True
        try:
            await asyncio.sleep(0)  # the network round trip, during which others run
            yield
        finally:
            self.busy = False

    def _batch(self, max_size_in_bytes: int | None = None) -> ServiceBusMessageBatch:
        limit = self.namespace.max_message_bytes
        if max_size_in_bytes and max_size_in_bytes > limit:
            raise ValueError(
                f"Max message size: {max_size_in_bytes} is too large, "
                f"acceptable max batch size is: {limit} bytes."
            )
        return ServiceBusMessageBatch(max_size_in_bytes=max_size_in_bytes or limit)

    async def create_message_batch(
        self, max_size_in_bytes: int | None = None
    ) -> ServiceBusMessageBatch:
        async with self._one_at_a_time("create_sender_link"):
            return self._batch(max_size_in_bytes)

    async def send_messages(
        self, messages: ServiceBusMessage | list[ServiceBusMessage] | ServiceBusMessageBatch
    ) -> None:
        async with self._one_at_a_time("client_ready_async"):
            if isinstance(messages, ServiceBusMessageBatch):
                batch = messages
            elif isinstance(messages, list):
                batch = self._batch()
                for message in messages:
                    batch.add_message(message)  # MessageSizeExceededError past the limit
            else:
                batch = self._batch()
                try:
                    batch.add_message(messages)
                except MessageSizeExceededError:
                    raise MessageSizeExceededError(
                        message="Message content is larger than the service bus frame size."
                    ) from None
            self.namespace.send(self.queue_name, list(batch._messages))

    async def close(self) -> None:
        pass


class FakeReceiver:
    def __init__(self, namespace: FakeNamespace, queue_name: str, sub_queue: Any) -> None:
        self.namespace, self.queue_name = namespace, queue_name
        self.sub_queue = sub_queue == ServiceBusSubQueue.DEAD_LETTER or sub_queue == "deadletter"

    async def receive_messages(
        self, max_message_count: int | None = 1, max_wait_time: float | None = None
    ) -> list[FakeReceivedMessage]:
        deadline = time.monotonic() + (max_wait_time or 0)
        while True:
            got = self.namespace.receive(self.queue_name, max_message_count or 1)
            if got or time.monotonic() >= deadline:
                return got
            await asyncio.sleep(min(0.01, max(0.0, deadline - time.monotonic())))

    async def complete_message(self, message: FakeReceivedMessage) -> None:
        self.namespace.settle(self.queue_name, message, "complete")

    async def abandon_message(self, message: FakeReceivedMessage) -> None:
        self.namespace.settle(self.queue_name, message, "abandon")

    async def dead_letter_message(
        self,
        message: FakeReceivedMessage,
        reason: str | None = None,
        error_description: str | None = None,
    ) -> None:
        self.namespace.settle(
            self.queue_name,
            message,
            "dead_letter",
            reason=reason or "",
            description=error_description or "",
        )

    async def renew_message_lock(self, message: FakeReceivedMessage, **_: Any) -> datetime:
        return self.namespace.renew(self.queue_name, message)

    async def peek_messages(
        self, max_message_count: int = 1, *, sequence_number: int = 0, **_: Any
    ) -> list[FakeReceivedMessage]:
        return self.namespace.peek(
            self.queue_name, self.sub_queue, max_message_count, sequence_number
        )

    async def close(self) -> None:
        pass
