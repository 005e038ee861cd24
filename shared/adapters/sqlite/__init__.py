"""The embedded backend: every port on one SQLite file in WAL mode.

Several processes may open the same file at once (``dtq serve`` plus any number
of ``dtq worker``): writers take SQLite's write lock with ``BEGIN IMMEDIATE`` and
wait for it up to the busy timeout; readers never block writers.
"""

from shared.adapters.sqlite.database import Database
from shared.adapters.sqlite.idempotency import SqliteIdempotencyKeys
from shared.adapters.sqlite.queue import SqliteJobQueue
from shared.adapters.sqlite.results import SqliteResultStore
from shared.adapters.sqlite.status import SqliteStatusStore

__all__ = [
    "Database",
    "SqliteIdempotencyKeys",
    "SqliteJobQueue",
    "SqliteResultStore",
    "SqliteStatusStore",
]
