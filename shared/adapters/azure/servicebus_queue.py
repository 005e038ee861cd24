"""The job queue on Azure Service Bus (peek-lock).

Service Bus provides the semantics the port asks for natively: duplicate detection on
``MessageId`` (queue property), scheduled messages, lock duration and max delivery
count (queue properties, set by the infrastructure; this adapter is told their values
so the local host renews locks in time), and the dead-letter sub-queue.

The port hands out plain :class:`ReceivedMessage` values; the SDK message objects
needed to settle them stay here, keyed by lock token.

Delivery counts: ``azure-servicebus`` reports a received message's raw AMQP header,
the number of *previous* deliveries (0 on the first), while the Functions host (the
.NET SDK) and the port count from 1. A peeked message's header already carries the
broker's count (the .NET SDK adds 1 only to received messages). :func:`_port_message`
is the one place that translates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import AzureError
from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus.exceptions import (
    MessageAlreadySettled,
    MessageLockLostError,
    MessageSizeExceededError,
    ServiceBusError,
)

from shared.control import MessageLockLost
from shared.errors import BackendUnavailable, DtqError, TooLarge
from shared.ports import OutgoingMessage, QueueDepth, ReceivedMessage
from shared.usage import Usage

log = logging.getLogger(__name__)

#: Senders per queue object. The SDK's async sender takes one send at a time
#: (azure-sdk-for-python #36334, #35618), so concurrent sends each take an idle sender
#: of this pool, making one more while fewer than this many exist.
SENDERS_PER_QUEUE = 4


def _text(value: Any) -> Any:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _body(message: Any) -> bytes:
    body = message.body
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return b"".join(bytes(part) for part in body)


def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except (MessageLockLostError, MessageAlreadySettled) as exc:
        raise MessageLockLost(f"{what}: {exc}") from exc
    except MessageSizeExceededError as exc:
        raise TooLarge(f"service bus: {what}: {exc}") from exc
    except ServiceBusError as exc:
        raise BackendUnavailable(f"service bus: {what}: {exc}") from exc
    except AzureError as exc:
        # The administration client (queue depth) is an HTTP API: azure.core errors.
        status = getattr(exc, "status_code", None)
        code = f" HTTP {status}" if status else ""
        hint = (
            " (the identity needs Manage rights on the namespace)" if status in {401, 403} else ""
        )
        raise BackendUnavailable(
            f"service bus: {what}: {type(exc).__name__}{code}: {exc}{hint}"
        ) from exc


class _Senders:
    """A small pool of one queue's senders, each used by one send at a time. A sender
    whose send failed is let go of (its link may be half torn down); the client closes
    it with itself."""

    def __init__(self, make: Callable[[], Any], size: int) -> None:
        self._make = make
        self._free = asyncio.Semaphore(size)
        self._idle: list[Any] = []

    @asynccontextmanager
    async def one(self) -> AsyncIterator[Any]:
        async with self._free:
            sender = self._idle.pop() if self._idle else self._make()
            try:
                yield sender
            except TooLarge:
                self._idle.append(sender)  # refused before sending: the sender is fine
                raise
            self._idle.append(sender)  # any other exception drops the sender

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for sender in idle:
            await sender.close()


class ServiceBusJobQueue:
    """See :class:`shared.ports.JobQueue`."""

    def __init__(
        self,
        client: Any,
        queue_name: str,
        *,
        lock_duration: float,
        max_delivery_count: int,
        admin: Any = None,
        usage: Usage | None = None,
    ) -> None:
        self.client = client
        #: Billable operations; Service Bus bills each message sent and each call.
        self.usage = usage or Usage()
        self.queue_name = queue_name
        self.lock_duration = lock_duration
        self.max_delivery_count = max_delivery_count
        self.admin = admin
        self._senders = _Senders(lambda: client.get_queue_sender(queue_name), SENDERS_PER_QUEUE)
        self._receiver: Any = None
        self._held: dict[str, Any] = {}

    # -- send -----------------------------------------------------------------------

    async def send(self, messages: Sequence[OutgoingMessage]) -> None:
        """Send in one call on a sender of the pool. An error the SDK does not type (its
        bare AttributeError of a sender whose handler is gone, #35618, #48921) drops
        that sender and is tried once more on another; duplicate detection on
        ``MessageId`` drops a copy that got through. A second failure is
        BackendUnavailable, so a submit is rolled back, never left without its message."""
        if not messages:
            return
        batch = [
            ServiceBusMessage(
                m.body,
                message_id=m.message_id,
                content_type=m.content_type,
                application_properties=dict[Any, Any](m.application_properties),
                scheduled_enqueue_time_utc=m.scheduled_enqueue_time,
            )
            for m in messages
        ]
        what = f"send to {self.queue_name}"
        for retry in (False, True):
            try:
                with _translated(what):
                    async with self._senders.one() as sender:
                        for part in await self._batches(sender, batch):
                            await sender.send_messages(part)
                break
            except DtqError:
                raise
            except Exception as exc:
                if retry:
                    raise BackendUnavailable(
                        f"service bus: {what}: {type(exc).__name__}: {exc}"
                    ) from exc
                log.warning("%s failed (%r); trying again on a new sender", what, exc)
        self.usage.record("servicebus", "send", len(batch))

    async def _batches(self, sender: Any, messages: list[ServiceBusMessage]) -> list[Any]:
        """The messages in as few of the SDK's size-checked batches as they fit (256 KB
        each on Standard, 1 MB on Premium); TooLarge, before anything is sent, for a
        message that fits no batch."""
        batches = [await sender.create_message_batch()]
        for message in messages:
            try:
                batches[-1].add_message(message)
                continue
            except MessageSizeExceededError:
                if len(batches[-1]):
                    batches.append(await sender.create_message_batch())
            try:
                batches[-1].add_message(message)
            except MessageSizeExceededError:
                limit = batches[-1].max_size_in_bytes
                raise TooLarge(
                    f"message {message.message_id} is larger than Service Bus takes"
                    f" ({limit} bytes with its properties)",
                    limit=limit,
                ) from None
        return batches

    # -- receive --------------------------------------------------------------------

    def _port_message(self, message: Any, *, peeked: bool = False) -> ReceivedMessage:
        properties = {_text(k): _text(v) for k, v in (message.application_properties or {}).items()}
        raw_count = int(message.delivery_count or 0)
        return ReceivedMessage(
            message_id=str(message.message_id),
            body=_body(message),
            application_properties=properties,
            # The port counts deliveries from 1, as the Functions host does.
            delivery_count=raw_count if peeked else raw_count + 1,
            enqueued_time=_utc(message.enqueued_time_utc),
            sequence_number=int(message.sequence_number or 0),
            lock_token=str(message.lock_token or ""),
            locked_until=_utc(message.locked_until_utc),
            content_type=message.content_type or "application/json",
            dead_letter_reason=message.dead_letter_reason,
            dead_letter_description=message.dead_letter_error_description,
        )

    async def receive(self, max_messages: int = 1, max_wait: float = 5.0) -> list[ReceivedMessage]:
        if self._receiver is None:
            self._receiver = self.client.get_queue_receiver(
                self.queue_name, receive_mode=ServiceBusReceiveMode.PEEK_LOCK, prefetch_count=0
            )
        with _translated(f"receive from {self.queue_name}"):
            received = await self._receiver.receive_messages(
                max_message_count=max_messages, max_wait_time=max_wait
            )
        self.usage.record("servicebus", "receive")
        out = []
        for message in received:
            port_message = self._port_message(message)
            self._held[port_message.lock_token] = message
            out.append(port_message)
        return out

    # -- settle ---------------------------------------------------------------------

    def _sdk(self, message: ReceivedMessage) -> Any:
        try:
            return self._held[message.lock_token]
        except KeyError:
            raise MessageLockLost(f"message {message.message_id} is not held here") from None

    async def renew_lock(self, message: ReceivedMessage) -> datetime:
        with _translated(f"renew lock of {message.message_id}"):
            until = await self._receiver.renew_message_lock(self._sdk(message))
        self.usage.record("servicebus", "renew_lock")
        return _utc(until)

    async def _settle(
        self, message: ReceivedMessage, operation: str, settle: Callable[[Any], Awaitable[None]]
    ) -> None:
        """Settle a held message once, count the operation, and let go of it."""
        sdk = self._sdk(message)
        try:
            with _translated(f"{operation.replace('_', '-')} {message.message_id}"):
                await settle(sdk)
            self.usage.record("servicebus", operation)
        finally:
            self._held.pop(message.lock_token, None)

    async def complete(self, message: ReceivedMessage) -> None:
        await self._settle(message, "complete", self._receiver.complete_message)

    async def abandon(self, message: ReceivedMessage) -> None:
        await self._settle(message, "abandon", self._receiver.abandon_message)

    async def dead_letter(
        self, message: ReceivedMessage, reason: str, description: str = ""
    ) -> None:
        async def settle(sdk: Any) -> None:
            await self._receiver.dead_letter_message(
                sdk, reason=reason, error_description=description
            )

        await self._settle(message, "dead_letter", settle)

    # -- inspection -----------------------------------------------------------------

    async def peek_dead_letters(
        self, max_messages: int = 50, from_sequence_number: int = 0
    ) -> list[ReceivedMessage]:
        receiver = self.client.get_queue_receiver(
            self.queue_name, sub_queue=ServiceBusSubQueue.DEAD_LETTER
        )
        try:
            with _translated(f"peek dead letters of {self.queue_name}"):
                peeked = await receiver.peek_messages(
                    max_message_count=max_messages, sequence_number=from_sequence_number
                )
            self.usage.record("servicebus", "peek")
        finally:
            await receiver.close()
        return [self._port_message(m, peeked=True) for m in peeked]

    async def depth(self) -> QueueDepth:
        if self.admin is None:
            raise BackendUnavailable("queue depth needs the Service Bus administration client")
        with _translated(f"runtime properties of {self.queue_name}"):
            props = await self.admin.get_queue_runtime_properties(self.queue_name)
        self.usage.record("servicebus", "runtime_properties")
        return QueueDepth(
            active=props.active_message_count,
            scheduled=props.scheduled_message_count,
            dead_lettered=props.dead_letter_message_count,
        )

    async def close(self) -> None:
        await self._senders.close()
        if self._receiver is not None:
            await self._receiver.close()
        if self.admin is not None:
            await self.admin.close()
        await self.client.close()
