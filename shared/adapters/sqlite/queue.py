"""A Service Bus-like queue on SQLite: peek-lock, delivery count, scheduled
messages, duplicate detection and a dead-letter sub-queue.

A locked message is hidden by moving its ``visible_at`` to the lock's expiry, so
one index answers "what is receivable now" for fresh, scheduled, abandoned and
expired-lock messages alike. Each receive claims a batch in one write
transaction (one ``UPDATE ... RETURNING``): two receivers never hold the same
message.

Receivers wait without busy polling: an empty receive sleeps until the next
scheduled message is due or until the poll interval passes, whichever is first;
the interval doubles while the queue stays empty (from ``min_poll`` to
``max_poll``) and drops back as soon as a message arrives. A send in the same
process wakes its receivers at once.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from shared.adapters.sqlite.database import Database
from shared.control import MessageLockLost
from shared.errors import TooLarge
from shared.ports import MAX_MESSAGE_BYTES, OutgoingMessage, QueueDepth, ReceivedMessage

ACTIVE = 0
DEAD_LETTERED = 1
MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body BLOB NOT NULL,
    properties TEXT NOT NULL,
    content_type TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    status INTEGER NOT NULL DEFAULT 0,
    dead_letter_reason TEXT,
    dead_letter_description TEXT
);
CREATE INDEX IF NOT EXISTS queue_messages_ready
    ON queue_messages (queue, status, visible_at, seq);
CREATE TABLE IF NOT EXISTS queue_message_ids (
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (queue, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS queue_message_ids_expiry ON queue_message_ids (expires_at)
"""


def _message_bytes(m: OutgoingMessage) -> int:
    """A message's size as Service Bus counts it, near enough: body, id, content type and
    the application properties' names and values."""
    properties = sum(
        len(str(k).encode()) + len(str(v).encode()) for k, v in m.application_properties.items()
    )
    return len(m.body) + len(m.message_id.encode()) + len(m.content_type.encode()) + properties


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class SqliteJobQueue:
    """One named queue in a SQLite :class:`Database` (see :class:`shared.ports.JobQueue`)."""

    def __init__(
        self,
        db: Database,
        queue_name: str,
        *,
        lock_duration: float = 30.0,
        max_delivery_count: int = 10,
        duplicate_detection_window: float = 600.0,
        min_poll: float = 0.005,
        max_poll: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.queue_name = queue_name
        self.lock_duration = lock_duration
        self.max_delivery_count = max_delivery_count
        self.duplicate_detection_window = duplicate_detection_window
        self.min_poll = min_poll
        self.max_poll = max_poll
        #: Wall-clock seconds; tests may substitute a controllable clock.
        self._now = clock
        self._wakeups: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._sends_since_prune = 0
        db.ensure_schema("queue", SCHEMA)

    # -- send -----------------------------------------------------------------------

    async def send(self, messages: Sequence[OutgoingMessage]) -> None:
        """Send all of ``messages``, or none: a message over Service Bus's size limit is
        refused (TooLarge) before any is stored, as the Service Bus adapter does."""
        if not messages:
            return
        for m in messages:
            size = _message_bytes(m)
            if size > MAX_MESSAGE_BYTES:
                raise TooLarge(
                    f"message {m.message_id} is {size} bytes with its properties; a queue"
                    f" message may be at most {MAX_MESSAGE_BYTES}",
                    limit=MAX_MESSAGE_BYTES,
                )
        await self.db.write(self._send, list(messages))
        self._wake_receivers()

    def _send(self, conn: sqlite3.Connection, messages: list[OutgoingMessage]) -> None:
        now = self._now()
        expires = now + self.duplicate_detection_window
        self._sends_since_prune += len(messages)
        if self._sends_since_prune >= 500:
            self._sends_since_prune = 0
            conn.execute("DELETE FROM queue_message_ids WHERE expires_at < ?", (now,))
        for m in messages:
            seen = conn.execute(
                "INSERT INTO queue_message_ids (queue, message_id, expires_at)"
                " VALUES (?, ?, ?)"
                " ON CONFLICT (queue, message_id)"
                " DO UPDATE SET expires_at = excluded.expires_at"
                " WHERE queue_message_ids.expires_at < ?"
                " RETURNING 1",
                (self.queue_name, m.message_id, expires, now),
            ).fetchone()
            if seen is None:  # a duplicate inside the detection window: dropped
                continue
            visible = m.scheduled_enqueue_time.timestamp() if m.scheduled_enqueue_time else now
            conn.execute(
                "INSERT INTO queue_messages (queue, message_id, body, properties, content_type,"
                " enqueued_at, visible_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self.queue_name,
                    m.message_id,
                    m.body,
                    json.dumps(m.application_properties),
                    m.content_type,
                    now,
                    max(visible, now),
                ),
            )

    def _wake_receivers(self) -> None:
        for loop, event in list(self._wakeups):
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed
                self._wakeups.discard((loop, event))

    # -- receive --------------------------------------------------------------------

    async def receive(self, max_messages: int = 1, max_wait: float = 5.0) -> list[ReceivedMessage]:
        deadline = time.monotonic() + max_wait
        poll = self.min_poll
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        key = (loop, event)
        self._wakeups.add(key)
        try:
            while True:
                event.clear()
                head = await self.db.read(self._head)
                next_due: float | None = head
                messages: list[ReceivedMessage] = []
                if head is not None and head <= self._now():
                    next_due = None
                    messages = await self.db.write(self._claim, max_messages)
                if messages:
                    return messages
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                wait = min(remaining, poll)
                if next_due is not None:
                    wait = min(wait, max(0.0, next_due - self._now()))
                try:
                    await asyncio.wait_for(event.wait(), timeout=wait)
                    poll = self.min_poll
                except TimeoutError:
                    poll = min(poll * 2, self.max_poll)
        finally:
            self._wakeups.discard(key)

    def _head(self, conn: sqlite3.Connection) -> float | None:
        """When the first message becomes receivable (a cheap read: an idle queue never
        takes the write lock)."""
        row = conn.execute(
            "SELECT visible_at FROM queue_messages WHERE queue = ? AND status = ?"
            " ORDER BY visible_at, seq LIMIT 1",
            (self.queue_name, ACTIVE),
        ).fetchone()
        return None if row is None else float(row["visible_at"])

    def _claim(self, conn: sqlite3.Connection, max_messages: int) -> list[ReceivedMessage]:
        now = self._now()
        heads = conn.execute(
            "SELECT seq, delivery_count FROM queue_messages"
            " WHERE queue = ? AND status = ? AND visible_at <= ?"
            " ORDER BY visible_at, seq LIMIT ?",
            (self.queue_name, ACTIVE, now, max_messages),
        ).fetchall()
        # A message already delivered max_delivery_count times whose lock ran out goes
        # to the dead-letter queue instead of being delivered again.
        for row in heads:
            if row["delivery_count"] >= self.max_delivery_count:
                self._move_to_dlq(conn, row["seq"], MAX_DELIVERY_COUNT_EXCEEDED, self._exceeded)
        claim = [row["seq"] for row in heads if row["delivery_count"] < self.max_delivery_count]
        if not claim:
            return []
        token_prefix = uuid.uuid4().hex
        rows = conn.execute(
            "UPDATE queue_messages SET delivery_count = delivery_count + 1,"
            " visible_at = ?, lock_token = ? || '-' || seq"
            f" WHERE seq IN ({', '.join('?' * len(claim))})"
            " RETURNING seq, message_id, body, properties, content_type, enqueued_at,"
            " visible_at, delivery_count, lock_token",
            (now + self.lock_duration, token_prefix, *claim),
        ).fetchall()
        order = {seq: i for i, seq in enumerate(claim)}  # due first, then sent first
        rows.sort(key=lambda r: order[r["seq"]])
        return [self._message(r) for r in rows]

    @property
    def _exceeded(self) -> str:
        return f"delivered {self.max_delivery_count} times without being completed"

    @staticmethod
    def _message(row: sqlite3.Row) -> ReceivedMessage:
        keys = row.keys()
        return ReceivedMessage(
            message_id=row["message_id"],
            body=bytes(row["body"]),
            application_properties=json.loads(row["properties"]),
            delivery_count=row["delivery_count"],
            enqueued_time=_dt(row["enqueued_at"]),
            sequence_number=row["seq"],
            lock_token=row["lock_token"] or "",
            locked_until=_dt(row["visible_at"]),
            content_type=row["content_type"],
            dead_letter_reason=row["dead_letter_reason"] if "dead_letter_reason" in keys else None,
            dead_letter_description=(
                row["dead_letter_description"] if "dead_letter_description" in keys else None
            ),
        )

    # -- settle ---------------------------------------------------------------------

    def _held(self, conn: sqlite3.Connection, message: ReceivedMessage) -> sqlite3.Row:
        row = conn.execute(
            "SELECT seq, delivery_count FROM queue_messages WHERE seq = ? AND lock_token = ?"
            " AND status = ? AND visible_at > ?",
            (message.sequence_number, message.lock_token, ACTIVE, self._now()),
        ).fetchone()
        if row is None:
            raise MessageLockLost(
                f"the lock on message {message.message_id!r} expired or was already settled"
            )
        return row

    async def renew_lock(self, message: ReceivedMessage) -> datetime:
        return await self.db.write(self._renew, message)

    def _renew(self, conn: sqlite3.Connection, message: ReceivedMessage) -> datetime:
        self._held(conn, message)
        until = self._now() + self.lock_duration
        conn.execute(
            "UPDATE queue_messages SET visible_at = ? WHERE seq = ?",
            (until, message.sequence_number),
        )
        return _dt(until)

    async def complete(self, message: ReceivedMessage) -> None:
        await self.db.write(self._complete, message)

    def _complete(self, conn: sqlite3.Connection, message: ReceivedMessage) -> None:
        cur = conn.execute(
            "DELETE FROM queue_messages WHERE seq = ? AND lock_token = ? AND status = ?"
            " AND visible_at > ?",
            (message.sequence_number, message.lock_token, ACTIVE, self._now()),
        )
        if cur.rowcount == 0:
            raise MessageLockLost(
                f"the lock on message {message.message_id!r} expired or was already settled"
            )

    async def abandon(self, message: ReceivedMessage) -> None:
        await self.db.write(self._abandon, message)
        self._wake_receivers()

    def _abandon(self, conn: sqlite3.Connection, message: ReceivedMessage) -> None:
        row = self._held(conn, message)
        if row["delivery_count"] >= self.max_delivery_count:
            self._move_to_dlq(
                conn, message.sequence_number, MAX_DELIVERY_COUNT_EXCEEDED, self._exceeded
            )
        else:
            conn.execute(
                "UPDATE queue_messages SET visible_at = ?, lock_token = NULL WHERE seq = ?",
                (self._now(), message.sequence_number),
            )

    async def dead_letter(
        self, message: ReceivedMessage, reason: str, description: str = ""
    ) -> None:
        await self.db.write(self._dead_letter, message, reason, description)

    def _dead_letter(
        self, conn: sqlite3.Connection, message: ReceivedMessage, reason: str, description: str
    ) -> None:
        self._held(conn, message)
        self._move_to_dlq(conn, message.sequence_number, reason, description)

    @staticmethod
    def _move_to_dlq(conn: sqlite3.Connection, seq: int, reason: str, description: str) -> None:
        conn.execute(
            "UPDATE queue_messages SET status = ?, lock_token = NULL, dead_letter_reason = ?,"
            " dead_letter_description = ? WHERE seq = ?",
            (DEAD_LETTERED, reason, description, seq),
        )

    # -- inspection -----------------------------------------------------------------

    async def peek_dead_letters(
        self, max_messages: int = 50, from_sequence_number: int = 0
    ) -> list[ReceivedMessage]:
        return await self.db.read(self._peek_dlq, max_messages, from_sequence_number)

    def _peek_dlq(
        self, conn: sqlite3.Connection, max_messages: int, from_seq: int
    ) -> list[ReceivedMessage]:
        rows = conn.execute(
            "SELECT seq, message_id, body, properties, content_type, enqueued_at, visible_at,"
            " delivery_count, lock_token, dead_letter_reason, dead_letter_description"
            " FROM queue_messages WHERE queue = ? AND status = ? AND seq >= ?"
            " ORDER BY seq LIMIT ?",
            (self.queue_name, DEAD_LETTERED, from_seq, max_messages),
        ).fetchall()
        return [self._message(r) for r in rows]

    async def depth(self) -> QueueDepth:
        return await self.db.read(self._depth)

    def _depth(self, conn: sqlite3.Connection) -> QueueDepth:
        row = conn.execute(
            "SELECT"
            " COALESCE(SUM(status = ? AND (visible_at <= ? OR lock_token IS NOT NULL)), 0),"
            " COALESCE(SUM(status = ? AND visible_at > ? AND lock_token IS NULL), 0),"
            " COALESCE(SUM(status = ?), 0)"
            " FROM queue_messages WHERE queue = ?",
            (ACTIVE, self._now(), ACTIVE, self._now(), DEAD_LETTERED, self.queue_name),
        ).fetchone()
        return QueueDepth(active=row[0], scheduled=row[1], dead_lettered=row[2])

    async def close(self) -> None:
        self._wakeups.clear()
