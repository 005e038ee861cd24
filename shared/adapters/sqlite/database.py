"""One SQLite file shared by the embedded adapters and by every dtq process.

Reads run on a small thread pool, each thread with its own connection, so the
event loop never waits on the disk. Writes go to one writer thread per process
that commits them in groups: every write that is waiting when a transaction
starts joins it (each in its own savepoint, so one failing write does not undo
the others), and every caller learns its result only after the COMMIT. Under
load this turns many small transactions (and many waits for SQLite's write lock,
which other processes share) into a few larger ones; an idle system still commits
each write on its own at once.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from shared.errors import BackendUnavailable

T = TypeVar("T")

#: How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 15_000
#: Most writes committed in one transaction.
MAX_GROUP = 256


@dataclass
class _Write:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


def _resolve(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the caller was cancelled meanwhile
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _backend_error(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.OperationalError):  # locked too long, disk full, I/O error
        return BackendUnavailable(f"sqlite: {exc}")
    return exc


class Database:
    """A SQLite file opened in WAL mode, used from async code.

    Adapters register their schema with :meth:`ensure_schema`; it runs once per
    ``Database`` object (``CREATE ... IF NOT EXISTS``), so concurrent processes may
    all run it safely.
    """

    def __init__(self, path: str | Path, *, read_threads: int = 2) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.RLock()
        self._readers = ThreadPoolExecutor(
            max_workers=read_threads, thread_name_prefix="dtq-sqlite-read"
        )
        self._pending: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._writer = threading.Thread(
            target=self._write_loop, name="dtq-sqlite-write", daemon=True
        )
        self._writer.start()
        self._schemas: set[str] = set()
        self._closed = False

    # -- connections ------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL is durable against application crashes (what we test
            # with SIGKILL); only an OS crash or power cut can lose the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on this thread's connection (for set-up work)."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    # -- running work -------------------------------------------------------------

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` on a reader thread."""
        if self._closed:
            raise BackendUnavailable("the database is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._readers, self._read_call, fn, args)
        except sqlite3.OperationalError as exc:
            raise BackendUnavailable(f"sqlite: {exc}") from exc

    def _read_call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        return fn(self.connection(), *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` inside a write transaction, committed before this returns.

        ``fn`` runs on the writer thread, possibly in the same transaction as other
        writes (in its own savepoint): it must not BEGIN or COMMIT itself.
        """
        if self._closed:
            raise BackendUnavailable("the database is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.put(_Write(fn, args, loop, future))
        return await future

    def _write_loop(self) -> None:
        while True:
            first = self._pending.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < MAX_GROUP:
                try:
                    item = self._pending.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            self._commit_group(group)
            if stop:
                return

    def _commit_group(self, group: list[_Write]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn = self.connection()
            conn.execute("BEGIN IMMEDIATE")
            for item in group:
                conn.execute("SAVEPOINT w")
                try:
                    outcomes.append((True, item.fn(conn, *item.args)))
                    conn.execute("RELEASE w")
                except Exception as exc:
                    conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
                    outcomes.append((False, _backend_error(exc)))
            conn.execute("COMMIT")
        except Exception as exc:  # BEGIN or COMMIT failed: nothing of the group was kept
            with suppress(sqlite3.Error):
                self.connection().execute("ROLLBACK")
            error = _backend_error(exc)
            outcomes = [(False, error)] * len(group)
        for item, (ok, value) in zip(group, outcomes, strict=True):
            with suppress(RuntimeError):  # RuntimeError: the caller's loop is closed
                item.loop.call_soon_threadsafe(_resolve, item.future, ok, value)

    def ensure_schema(self, name: str, ddl: str) -> None:
        """Create tables once per process (idempotent across processes)."""
        with self._lock:
            if name in self._schemas:
                return
            with self.transaction() as conn:
                for statement in ddl.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            self._schemas.add(name)

    async def ping(self) -> None:
        await self.read(lambda conn: conn.execute("SELECT 1").fetchone())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pending.put(None)
        self._writer.join(timeout=30)
        self._readers.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
