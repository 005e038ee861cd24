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
    from shared.backends import bare_status_store
    from shared.errors import DtqError

    async def rebuild() -> int:
        async with bare_status_store(settings) as store:
            started = time.monotonic()
            try:
                jobs = await store.rebuild_index()  # type: ignore[attr-defined]
            except DtqError as exc:
                print(f"dtq rebuild-index: {exc}", file=sys.stderr)
                return 1
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
