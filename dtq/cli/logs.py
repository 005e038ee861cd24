"""The CLI's ``logs`` command: a job's log lines (``ctx.log``), once or followed to the
job's end (exit codes: dtq/cli/connection.py, as ``dtq watch``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from dtq.cli import output
from dtq.cli.connection import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, STATE_EXIT, add_command, err
from dtq.client import ApiClient

EXAMPLES = """examples:
  dtq logs 01jq3v5k8m2x7c9d4f6g8h0j1k
  dtq logs 01jq3v5k8m2x7c9d4f6g8h0j1k --follow
  dtq logs 01jq3v5k8m2x7c9d4f6g8h0j1k --follow --json | jq -r .message"""


def text(line: dict[str, Any]) -> str:
    """``HH:MM:SS.mmm message``, the time in this machine's zone."""
    at = datetime.fromisoformat(line["at"]).astimezone()
    return f"{at:%H:%M:%S}.{at.microsecond // 1000:03d} {line['message']}"


def new_lines(lines: list[dict[str, Any]], last: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The lines after ``last`` (the last one printed); all of them when it has scrolled
    out of the job's last lines."""
    if last is not None:
        for index in range(len(lines) - 1, -1, -1):
            if lines[index] == last:
                return lines[index + 1 :]
    return lines


def emit(lines: Iterable[dict[str, Any]], as_json: bool) -> None:
    for line in lines:
        print(json.dumps(line) if as_json else text(line), flush=True)


def logs(api: ApiClient, args: argparse.Namespace) -> int:
    if not args.follow:
        once = api.logs(args.job_id)
        if args.json:
            output.emit_json(once)
        else:
            emit(once["lines"], False)
        return EXIT_OK
    last: dict[str, Any] | None = None
    body: dict[str, Any] = {}
    try:
        for body in api.follow_logs(args.job_id, timeout=args.timeout):
            fresh = new_lines(body["lines"], last)
            emit(fresh, args.json)
            last = fresh[-1] if fresh else last
    except TimeoutError as exc:
        err(str(exc))
        return EXIT_TIMEOUT
    return STATE_EXIT.get(body.get("state", ""), EXIT_FAILED)


def register(sub: Any) -> None:
    """Add ``logs`` to the ``dtq`` parser's subcommands."""
    p = add_command(sub, "logs", logs, "show a job's log lines (ctx.log)", EXAMPLES)
    p.add_argument("job_id")
    p.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="print new lines until the job ends; exit 0 completed, 1 failed, 3 cancelled",
    )
    p.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="with --follow: give up (exit 7)"
    )
