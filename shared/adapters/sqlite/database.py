"""One SQLite file shared by the embedded adapters and by every dtq process.

Calls run on a small thread pool so the event loop never waits on the disk or
on another process's write lock. Each pool thread keeps its own connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from shared.errors import BackendUnavailable

T = TypeVar("T")

#: How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 15_000


class Database:
    """A SQLite file opened in WAL mode, used from async code.

    Adapters register their schema with :meth:`ensure_schema`; it runs once per
    ``Database`` object in one write transaction (``CREATE ... IF NOT EXISTS``),
    so concurrent processes may all run it safely.
    """

    def __init__(self, path: str | Path, *, threads: int = 4) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.RLock()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dtq-sqlite")
        self._schemas: set[str] = set()
        self._closed = False

    # -- connections ------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
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
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds SQLite's write lock from its first statement."""
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

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` on the pool; SQLite errors become BackendUnavailable."""
        if self._closed:
            raise BackendUnavailable("the database is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._call, fn, args)
        except sqlite3.OperationalError as exc:  # locked too long, disk full, I/O error
            raise BackendUnavailable(f"sqlite: {exc}") from exc

    @staticmethod
    def _call(fn: Callable[..., T], args: tuple[object, ...]) -> T:
        return fn(*args)

    def ensure_schema(self, name: str, ddl: str) -> None:
        """Create tables once per process (idempotent across processes)."""
        if name in self._schemas:
            return
        with self._lock:
            if name in self._schemas:
                return
            conn = self.connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in ddl.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._schemas.add(name)

    async def ping(self) -> None:
        await self.run(lambda: self.connection().execute("SELECT 1").fetchone())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
