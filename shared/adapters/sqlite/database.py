"""One SQLite file shared by the embedded adapters and by every dtq process.

Reads run on a small thread pool, each thread with its own connection, so the
event loop never waits on the disk. Writes go to one writer thread per process
that commits them in groups: every write that is waiting when a transaction
starts joins it (each in its own savepoint, so one failing write does not undo
the others), and every caller learns its result only after the COMMIT. Under
load this turns many small transactions (and many waits for SQLite's write lock,
which other processes share) into a few larger ones; an idle system still commits
each write on its own at once.

A full disk or read-only storage is an error of its own (StorageFull,
StorageReadOnly), logged in one line when it starts and when it ends, and
reported by :meth:`Database.ping` (the health check). The file is never
memory-mapped (``mmap_size=0``): a page written into a mapping that the disk
cannot back kills the process with SIGBUS, where a ``write()`` only fails.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from shared.errors import BackendUnavailable, StorageFull, StorageReadOnly

T = TypeVar("T")

#: How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 15_000
#: Most writes committed in one transaction.
MAX_GROUP = 256
#: Below this much free space on its file system the health check reports the store
#: as full: the next larger write would fail.
MIN_FREE_BYTES = 1 << 20
#: How long the health check reports a write refused for lack of storage when no write
#: has succeeded since (and how often a lasting storage failure is logged again).
STORAGE_FAILURE_SECONDS = 30.0

log = logging.getLogger(__name__)

#: SQLite's primary result codes for a full disk and for read-only storage.
SQLITE_FULL, SQLITE_READONLY = 13, 8


@dataclass
class _Write:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    #: The health check's probe: its success does not prove larger writes succeed.
    probe: bool = False


def _resolve(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the caller was cancelled meanwhile
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def storage_error(exc: BaseException) -> StorageFull | StorageReadOnly | None:
    """The storage error ``exc`` is (disk full or read-only), else None.

    SQLite reports ENOSPC as SQLITE_FULL and a read-only file or mount as
    SQLITE_READONLY (Python gives the code as ``sqlite_errorcode``); an OSError
    carries the errno itself. The message is safe to show to a client (no path)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    number = exc.errno if isinstance(exc, OSError) else None
    if primary == SQLITE_FULL or number in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull("the job store's disk is full; it takes no writes until space is freed")
    if primary == SQLITE_READONLY or number == errno.EROFS:
        return StorageReadOnly("the job store's storage is read-only; it takes no writes")
    return None


def _backend_error(exc: BaseException) -> BaseException:
    storage = storage_error(exc)
    if storage is not None:
        return storage
    if isinstance(exc, sqlite3.OperationalError):  # locked too long, I/O error
        return BackendUnavailable(f"sqlite: {exc}")
    return exc


def _probe_write(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS storage_probe (id INTEGER PRIMARY KEY, at REAL)")
    conn.execute("INSERT OR REPLACE INTO storage_probe (id, at) VALUES (1, ?)", (time.time(),))


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
        #: The last write refused for lack of storage (its error and when), until a
        #: write succeeds again; and when that was last logged.
        self._storage_failure: tuple[BackendUnavailable, float] | None = None
        self._storage_logged_at = 0.0

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
            # Never memory-map the database file, whatever SQLite's build default: a
            # page written into a mapping the full disk cannot back is a SIGBUS that
            # kills the process (and its jobs in flight); a write() returns ENOSPC.
            # The WAL is written with write() too; only its index (-shm) is mapped,
            # and SQLite allocates each of its pages with write() before mapping it.
            conn.execute("PRAGMA mmap_size=0")
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
        except (sqlite3.OperationalError, OSError) as exc:
            error = _backend_error(exc)
            if isinstance(error, OSError):  # e.g. the data dir is gone
                error = BackendUnavailable(f"storage: {exc}")
            raise error from exc

    def _read_call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        return fn(self.connection(), *args)

    async def write(self, fn: Callable[..., T], *args: Any, _probe: bool = False) -> T:
        """``fn(connection, *args)`` inside a write transaction, committed before this returns.

        ``fn`` runs on the writer thread, possibly in the same transaction as other
        writes (in its own savepoint): it must not BEGIN or COMMIT itself.
        """
        if self._closed:
            raise BackendUnavailable("the database is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.put(_Write(fn, args, loop, future, probe=_probe))
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
                    try:
                        conn.execute("ROLLBACK TO w")
                        conn.execute("RELEASE w")
                    except sqlite3.Error:
                        # SQLite rolled the whole transaction back itself (it may on
                        # SQLITE_FULL or an I/O error): the group fails with the cause.
                        raise exc from None
                    outcomes.append((False, _backend_error(exc)))
            conn.execute("COMMIT")
        except Exception as exc:  # BEGIN or COMMIT failed: nothing of the group was kept
            with suppress(sqlite3.Error):
                self.connection().execute("ROLLBACK")
            error = _backend_error(exc)
            outcomes = [(False, error)] * len(group)
        self._note_storage(group, outcomes)
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

    # -- storage health -------------------------------------------------------------

    def _note_storage(self, group: list[_Write], outcomes: list[tuple[bool, Any]]) -> None:
        """Remember (and log, in one line) a write refused for lack of storage, and
        forget it once a write other than the health probe succeeds."""
        refused = next(
            (v for ok, v in outcomes if not ok and isinstance(v, StorageFull | StorageReadOnly)),
            None,
        )
        now = time.monotonic()
        if refused is not None:
            starting = self._storage_failure is None
            self._storage_failure = (refused, now)
            if starting or now - self._storage_logged_at >= STORAGE_FAILURE_SECONDS:
                self._storage_logged_at = now
                log.error("storage refuses writes to %s: %s", self.path, refused)
        elif self._storage_failure is not None and any(
            ok and not item.probe for item, (ok, _) in zip(group, outcomes, strict=True)
        ):
            self._storage_failure = None
            log.warning("storage takes writes to %s again", self.path)

    def _check_file_system(self) -> None:
        """Raise if the file system of the database is read-only or (nearly) full."""
        stat = os.statvfs(self.path.parent)
        if stat.f_flag & os.ST_RDONLY:
            raise StorageReadOnly("the job store's storage is read-only; it takes no writes")
        free = stat.f_bavail * stat.f_frsize
        if free < MIN_FREE_BYTES:
            raise StorageFull(
                f"the job store's disk is full ({free // 1024} KiB free); "
                "it takes no writes until space is freed"
            )

    async def ping(self) -> None:
        """Raise BackendUnavailable (StorageFull, StorageReadOnly) unless the store can
        be read and written: a read, the file system's free space and read-only flag,
        one tiny committed write, and no write refused for lack of storage in the last
        STORAGE_FAILURE_SECONDS with none succeeding since."""
        await self.read(lambda conn: conn.execute("SELECT 1").fetchone())
        await self.read(lambda conn: self._check_file_system())
        await self.write(_probe_write, _probe=True)
        failure = self._storage_failure
        if failure is not None and time.monotonic() - failure[1] < STORAGE_FAILURE_SECONDS:
            raise type(failure[0])(str(failure[0]))

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
