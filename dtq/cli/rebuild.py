"""``dtq rebuild-index``: make the job store's list indexes and counters from the jobs
themselves (issue 21), for a store written before they existed, or (``--recount``)
after a fault.

On SQLite it counts every job again in one transaction (the list indexes are SQLite's
own), safe while the app runs. On Table storage it gives each job row written before the
index its index rows and counter shares, each in one transaction conditional on the
row's ETag (a row a writer changes meanwhile is indexed by that write), then marks the
table indexed; until then the app reads that table by scanning. That is safe while the
app runs. ``--recount`` writes every partition's index rows and counters again from its
rows: run it with no worker or host writing to the table, as a job changed while its
partition is recounted may be counted as it was."""

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
                jobs = await store.rebuild_index(recount=args.recount)
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
        epilog="example: dtq rebuild-index (safe while the app runs);"
        " dtq rebuild-index --recount (a repair: stop the app's writers first)",
    )
    parser.add_argument(
        "--recount",
        action="store_true",
        help="count and index every job again, not only those written before the index"
        " (Table storage: with no writer on the table)",
    )
    common(parser)
    parser.set_defaults(run=run)
