"""The CLI's ``dlq`` command: the dead-letter queue's failed jobs listed, requeued or
purged, by id or in bulk (exit codes: dtq/cli/connection.py)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dtq.cli import output
from dtq.cli.connection import EXIT_OK, add_command, usage
from dtq.client import ApiClient

#: Jobs per bulk requeue or purge request, and the most rounds one command makes.
BULK_ROUND, MAX_BULK_ROUNDS = 100, 1000


def dlq(api: ApiClient, args: argparse.Namespace) -> int:
    if args.action == "list":
        page = api.dead_letters(job_type=args.type, limit=args.limit, cursor=args.cursor)
        if args.json:
            output.emit_json(page)
            return EXIT_OK
        rows = [
            [
                j["job_id"],
                j["job_type"],
                (j.get("dead_letter") or {}).get("reason", "-"),
                f"{j['attempt']}/{j['max_attempts']}",
                output.when((j.get("dead_letter") or {}).get("at") or j.get("finished_at")),
                _clip(
                    f"{j['error']['type']}: {j['error']['message']}" if j.get("error") else "-", 60
                ),
            ]
            for j in page["items"]
        ]
        headings = ["JOB ID", "TYPE", "REASON", "ATTEMPTS", "FAILED", "LAST ERROR"]
        output.page_table(headings, rows, "(the dead-letter queue is empty)", page, "dtq dlq list")
        return EXIT_OK
    if bool(args.job_ids) == bool(args.all):
        return usage(f"dlq {args.action}: name job ids, or pass --all (with --type to narrow it)")
    if args.action == "purge" and args.all and not args.yes:
        if not sys.stdin.isatty():
            return usage("dlq purge --all deletes jobs for good: add --yes to confirm")
        scope = f"every failed {args.type} job" if args.type else "every failed job"
        if input(f"Purge {scope} for good? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing purged")
            return EXIT_OK
    done: list[str] = []
    if args.job_ids:
        for job_id in args.job_ids:
            if args.action == "requeue":
                api.requeue(job_id, max_attempts=args.max_attempts)
            else:
                api.purge(job_id)
            done.append(job_id)
    else:
        # Rounds of 100 until none is left. A requeued job that fails again at once is
        # back before the next round: meeting one again ends the loop (it was requeued).
        seen: set[str] = set()
        for _ in range(MAX_BULK_ROUNDS):
            if args.action == "requeue":
                answer = api.requeue_matching(
                    job_type=args.type, limit=BULK_ROUND, max_attempts=args.max_attempts
                )
            else:
                answer = api.purge_matching(job_type=args.type, limit=BULK_ROUND)
            ids = list(answer.get("job_ids", []))
            again = seen.intersection(ids)
            seen.update(ids)
            done += [i for i in ids if i not in again]
            if not answer.get("more") or again:
                break
    verb = "requeued" if args.action == "requeue" else "purged"
    if args.json:
        output.emit_json({verb: len(done), "job_ids": done})
    else:
        print(f"{verb} {len(done)} job(s)")
        for job_id in done:
            print(f"  {job_id}")
    return EXIT_OK


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


EXAMPLE = """examples:
  dtq dlq list --type weather
  dtq dlq requeue 01jq3v5k8m2x7c9d4f6g8h0j1k
  dtq dlq requeue --all --type weather
  dtq dlq purge --all --yes"""


def register(sub: Any) -> None:
    """Add ``dlq`` to the ``dtq`` parser's subcommands."""
    p = add_command(sub, "dlq", dlq, "the dead-letter queue: list, requeue, purge", EXAMPLE)
    p.add_argument("action", choices=["list", "requeue", "purge"])
    p.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="requeue / purge these jobs")
    p.add_argument("--all", action="store_true", help="requeue / purge every job matching --type")
    p.add_argument("--type", help="only jobs of this type")
    p.add_argument("--limit", type=int, help="list: jobs per page")
    p.add_argument("--cursor", help="list: the next page")
    p.add_argument(
        "--max-attempts", type=int, help="requeue: the fresh budget of attempts (default 3)"
    )
    p.add_argument("--yes", action="store_true", help="purge --all: do not ask")
