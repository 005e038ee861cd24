"""``dtq rebuild-index``: make the job store's list indexes and counters again from the
jobs themselves (issue 21), for a store written before they existed or after a fault.

On SQLite it counts every job again in one transaction (the list indexes are SQLite's
own). On Table storage it writes each partition's index rows and counters from its job
rows and then marks the table indexed; until then the app reads that table by scanning.
Run it with no worker or host writing to the store: a job changed while its partition
is rebuilt may be counted as it was."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any


def run(args: argparse.Namespace) -> int:
    from dtq.cli.admin import _settings

    settings = _settings(args)  # first: finds the app folder and puts it on sys.path
    from shared.adapters.sqlite import Database
    from shared.backends import STORES, Resources
    from shared.errors import DtqError
    from shared.usage import Usage

    async def rebuild() -> int:
        databases: list[Database] = []

        def sqlite() -> Database:
            if not databases:
                databases.append(Database(settings.sqlite_path))
            return databases[0]

        store: Any = STORES[settings.status_backend].status(Resources(settings, Usage(), sqlite))
        started = time.monotonic()
        try:
            jobs = await store.rebuild_index()
        except DtqError as exc:
            print(f"dtq rebuild-index: {exc}", file=sys.stderr)
            return 1
        finally:
            await store.close()
            for db in databases:
                db.close()
        took = time.monotonic() - started
        print(f"rebuilt the index of {jobs} jobs ({settings.status_backend}) in {took:.1f} s")
        return 0

    return asyncio.run(rebuild())


def register(sub: Any, common: Any) -> None:
    parser = sub.add_parser(
        "rebuild-index",
        help="make the job store's list indexes and counters again from its jobs",
        epilog="example (with no host or worker running on the store): dtq rebuild-index",
    )
    common(parser)
    parser.set_defaults(run=run)
