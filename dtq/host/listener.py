"""Queue triggers for the local host: receive, invoke, settle, with the Functions
host's rules (``autoCompleteMessages: true``):

- the function returns -> the message is completed;
- the function raises (or runs past ``functionTimeout``), whatever the exception ->
  the message is abandoned, so it is delivered again, and dead-lettered by the queue
  after ``maxDeliveryCount`` deliveries (``MaxDeliveryCountExceeded``);
- nothing else: the listener never dead-letters a message itself, since a Python
  function in Azure cannot either (docs/retries.md);
- while the function runs, the lock is renewed up to ``maxAutoLockRenewalDuration``;
- at most ``maxConcurrentCalls`` invocations run at once per process;
- a ``cardinality: many`` trigger gets a list of up to ``maxMessageBatchSize``
  messages, one batch at a time, all settled alike (return: all completed; raise: all
  abandoned);
- SignalR output bindings are carried out after the function returns
  (dtq/host/bindings.py); a failed delivery fails the invocation;
- on shutdown, receiving stops; in-flight invocations get a grace period, then are
  cancelled and their messages abandoned (never lost).
"""

from __future__ import annotations

import asyncio
import logging
import time

from azure.functions.servicebus import ServiceBusMessage

from dtq.host.bindings import SignalRBindings, deliver_all, signalr_kwargs
from dtq.host.catalog import QueueFunction, invoke
from dtq.host.config import HostConfig
from shared.control import MessageLockLost
from shared.errors import BackendUnavailable
from shared.ports import JobQueue, ReceivedMessage

log = logging.getLogger(__name__)


def to_binding(message: ReceivedMessage) -> ServiceBusMessage:
    """The message as the Functions Python worker hands it to a trigger."""
    return ServiceBusMessage(
        body=message.body,
        message_id=message.message_id,
        content_type=message.content_type,
        delivery_count=message.delivery_count,
        enqueued_time_utc=message.enqueued_time,
        locked_until=message.locked_until,
        lock_token=message.lock_token,
        sequence_number=message.sequence_number,
        application_properties=dict(message.application_properties),
        user_properties=dict(message.application_properties),
    )


class QueueListener:
    def __init__(
        self,
        function: QueueFunction,
        queue: JobQueue,
        config: HostConfig,
        bindings: SignalRBindings | None = None,
    ) -> None:
        self.function = function
        self.queue = queue
        self.config = config
        self.bindings = bindings
        self.in_flight: set[asyncio.Task[None]] = set()
        self.invocations = 0

    async def run(self, stop: asyncio.Event, grace: float) -> None:
        """Receive and invoke until ``stop`` is set, then drain within ``grace`` seconds."""
        many = self.function.many
        limit = 1 if many else max(1, self.config.max_concurrent_calls)
        while not stop.is_set():
            free = limit - len(self.in_flight)
            if free <= 0:
                await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            wanted = max(1, self.config.max_message_batch_size) if many else free
            try:
                messages = await self.queue.receive(max_messages=wanted, max_wait=0.5)
            except BackendUnavailable as exc:
                log.warning("queue %s unavailable: %s; retrying", self.function.queue_name, exc)
                await asyncio.sleep(1.0)
                continue
            if stop.is_set():
                for message in messages:
                    await self._settle(self.queue.abandon, message)
                continue
            batches = [messages] if many and messages else [[m] for m in messages]
            for batch in batches:
                task = asyncio.create_task(self._process(batch))
                self.in_flight.add(task)
                task.add_done_callback(self.in_flight.discard)
        await self.drain(grace)

    async def drain(self, grace: float) -> None:
        if not self.in_flight:
            return
        log.info("waiting up to %.0fs for %d in-flight invocations", grace, len(self.in_flight))
        _, pending = await asyncio.wait(self.in_flight, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _invoke(self, batch: list[ReceivedMessage]) -> None:
        """The function on ``batch`` (a list for ``many``, else its one message), with
        its SignalR output bindings carried out after it returns."""
        trigger: object = (
            [to_binding(m) for m in batch] if self.function.many else to_binding(batch[0])
        )
        if not self.function.signalr or self.bindings is None:
            await invoke(self.function.fn, **{self.function.arg_name: trigger})
            return
        extra, outs = signalr_kwargs(self.bindings, self.function.signalr)
        await invoke(self.function.fn, **{self.function.arg_name: trigger}, **extra)
        await deliver_all(self.bindings, outs)

    async def _settle_all(self, action, batch: list[ReceivedMessage]) -> None:  # type: ignore[no-untyped-def]
        for message in batch:
            await self._settle(action, message)

    async def _process(self, batch: list[ReceivedMessage]) -> None:
        renewers = [asyncio.create_task(self._renew(m)) for m in batch]
        started = time.monotonic()
        first = batch[0]
        self.invocations += 1
        try:
            await asyncio.wait_for(self._invoke(batch), timeout=self.config.function_timeout)
        except asyncio.CancelledError:
            # Shutting down: hand the messages back so another worker runs them now.
            await asyncio.shield(self._settle_all(self.queue.abandon, batch))
            raise
        except Exception as exc:
            log.warning(
                "%s failed on message %s%s (delivery %d): %r; abandoning",
                self.function.name,
                first.message_id,
                f" and {len(batch) - 1} more" if len(batch) > 1 else "",
                first.delivery_count,
                exc,
            )
            await self._settle_all(self.queue.abandon, batch)
        else:
            await self._settle_all(self.queue.complete, batch)
            log.debug(
                "%s completed %s (%d messages) in %.3fs",
                self.function.name,
                first.message_id,
                len(batch),
                time.monotonic() - started,
            )
        finally:
            for renewer in renewers:
                renewer.cancel()
            await asyncio.gather(*renewers, return_exceptions=True)

    async def _settle(self, action, message: ReceivedMessage) -> None:  # type: ignore[no-untyped-def]
        try:
            await action(message)
        except MessageLockLost:
            log.warning("lock on %s was lost before it could be settled", message.message_id)
        except BackendUnavailable as exc:
            log.warning("could not settle %s (%s); its lock will expire", message.message_id, exc)

    async def _renew(self, message: ReceivedMessage) -> None:
        interval = max(0.05, self.queue.lock_duration / 3)
        stop_at = time.monotonic() + self.config.max_auto_lock_renewal
        while time.monotonic() + interval < stop_at:
            await asyncio.sleep(interval)
            try:
                await self.queue.renew_lock(message)
            except MessageLockLost:
                log.warning("lock on %s lost while its function ran", message.message_id)
                return
            except BackendUnavailable as exc:
                log.warning("could not renew the lock on %s: %s", message.message_id, exc)
