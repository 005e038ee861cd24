"""The CLI's job commands: ``submit``, ``get``, ``watch``, ``list`` and ``cancel``
(exit codes: dtq/cli/connection.py)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from dtq.cli import output
from dtq.cli.connection import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TIMEOUT,
    STATE_EXIT,
    Command,
    add_command,
    err,
    usage,
)
from dtq.client import ApiClient


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    """The payload from the positional JSON (``-`` reads stdin, ``@file`` a file) and
    any ``--set key=value`` (a value is JSON if it parses, else a string)."""
    payload: dict[str, Any] = {}
    if args.payload is not None:
        text = args.payload
        if text == "-":
            text = sys.stdin.read()
        elif text.startswith("@"):
            try:
                text = Path(text[1:]).read_text()
            except OSError as exc:
                raise SystemExit(usage(f"cannot read the payload file: {exc}")) from None
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise SystemExit(usage(f"the payload is not valid JSON: {exc}")) from None
        if not isinstance(loaded, dict):
            raise SystemExit(usage("the payload must be a JSON object"))
        payload.update(loaded)
    for item in args.set or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SystemExit(usage(f"--set wants key=value, not {item!r}"))
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        target = payload
        *parents, leaf = key.split(".")
        for part in parents:  # --set location.city=Lisbon
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise SystemExit(usage(f"--set {item}: {part} is already a value, not an object"))
        target[leaf] = value
    return payload


def submit(api: ApiClient, args: argparse.Namespace) -> int:
    job = api.submit(
        args.job_type,
        _payload(args),
        priority=args.priority,
        delay_seconds=args.delay,
        max_attempts=args.max_attempts,
        timeout_seconds=args.time_limit,
        idempotency_key=args.idempotency_key,
        callback_url=args.callback_url,
    )
    if args.watch:
        if not args.json:
            print(f"submitted {job['job_id']} ({job['job_type']})", file=sys.stderr)
        return _watch(api, job["job_id"], args)
    if args.json:
        output.emit_json(job)
    else:
        print(
            f"submitted {job['job_id']}"
            f" ({job['job_type']}, {job['state']}, priority {job['priority']})"
        )
        print(f"  watch it: dtq watch {job['job_id']}")
    return EXIT_OK


def get(api: ApiClient, args: argparse.Namespace) -> int:
    job = api.get(args.job_id)
    result = api.result(args.job_id) if job["state"] == "completed" else None
    if args.json:
        output.emit_json({**job, "result": result} if job["state"] == "completed" else job)
    else:
        output.show_job(job, result)
    return EXIT_OK


def watch(api: ApiClient, args: argparse.Namespace) -> int:
    return _watch(api, args.job_id, args)


def _watch(api: ApiClient, job_id: str, args: argparse.Namespace) -> int:
    """Follow a job to its end: a live bar on a terminal, a line per change otherwise,
    one JSON object per change with --json. The exit code says how it ended."""
    live = sys.stdout.isatty() and not args.json
    started = time.monotonic()
    job: dict[str, Any] = {}
    try:
        for job in api.watch(job_id, timeout=args.timeout):
            if args.json:
                print(json.dumps(job), flush=True)
            elif live:
                print(f"\r\033[K{output.status_line(job)}", end="", flush=True)
            else:
                print(output.status_line(job), flush=True)
    except TimeoutError as exc:
        if live:
            print()
        err(str(exc))
        return EXIT_TIMEOUT
    if live:
        print()
    if not args.json:
        took = time.monotonic() - started
        print(f"{job['state']} after {took:.1f} s")
        if job["state"] == "completed":
            print(json.dumps(api.result(job_id), indent=2))
        elif job.get("error"):
            print(f"last error: {job['error']['type']}: {job['error']['message']}")
    return STATE_EXIT.get(job["state"], EXIT_FAILED)


def list_jobs(api: ApiClient, args: argparse.Namespace) -> int:
    page = api.jobs(state=args.state, job_type=args.type, limit=args.limit, cursor=args.cursor)
    if args.json:
        output.emit_json(page)
        return EXIT_OK
    output.table(output.JOB_HEADINGS, output.job_rows(page["items"]))
    if not page["items"]:
        print("(no jobs)")
    if page.get("next_cursor"):
        print(
            f"more: dtq list --cursor {page['next_cursor']}"
            + "".join(
                f" --{k} {v}"
                for k, v in (("state", args.state), ("type", args.type), ("limit", args.limit))
                if v
            )
        )
    return EXIT_OK


def cancel(api: ApiClient, args: argparse.Namespace) -> int:
    job = api.cancel(args.job_id)
    if args.json:
        output.emit_json(job)
    elif job["state"] == "cancelled":
        print(f"cancelled {job['job_id']}")
    else:
        print(f"stopping {job['job_id']}: it ends cancelled at its next progress report")
    return EXIT_OK


EXAMPLES = {
    "submit": """examples:
  dtq submit echo --set message=hello
  dtq submit weather '{"city": "Lisbon", "country_code": "PT"}' --watch
  dtq submit simulate --set duration_ms=5000 --set steps=10 --priority high --delay 60
  dtq submit echo @payload.json --idempotency-key order-1234 --json""",
    "get": "example:\n  dtq get 01jq3v5k8m2x7c9d4f6g8h0j1k --json",
    "watch": """examples:
  dtq watch 01jq3v5k8m2x7c9d4f6g8h0j1k
  dtq watch 01jq3v5k8m2x7c9d4f6g8h0j1k --timeout 60 && echo done""",
    "list": """examples:
  dtq list
  dtq list --state failed --type weather --limit 50
  dtq list --json | jq '.items[].job_id'""",
    "cancel": "example:\n  dtq cancel 01jq3v5k8m2x7c9d4f6g8h0j1k",
}


def register(sub: Any) -> None:
    """Add the job commands to the ``dtq`` parser's subcommands."""

    def command(name: str, handler: Command, help: str) -> argparse.ArgumentParser:
        return add_command(sub, name, handler, help, EXAMPLES.get(name))

    p = command("submit", submit, "submit a job")
    p.add_argument("job_type", help="the job type (see `dtq types`)")
    p.add_argument(
        "payload", nargs="?", help="the payload as JSON; '-' reads stdin, '@file.json' a file"
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a payload field (JSON value or text); repeatable",
    )
    p.add_argument("--priority", choices=["high", "normal", "low"])
    p.add_argument(
        "--delay",
        type=float,
        metavar="SECONDS",
        help="run no earlier than this many seconds from now",
    )
    p.add_argument("--max-attempts", type=int)
    p.add_argument(
        "--time-limit", type=float, metavar="SECONDS", help="longest one attempt may run"
    )
    p.add_argument(
        "--idempotency-key", help="repeat-safe: the same key and body give back the same job"
    )
    p.add_argument(
        "--callback-url",
        metavar="URL",
        help="gets a signed POST when the job ends (see `dtq webhook-secret`)",
    )
    p.add_argument(
        "--watch", action="store_true", help="follow the job to its end (exit code as `dtq watch`)"
    )
    p.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="with --watch: give up after this long"
    )

    p = command("get", get, "show a job (and its result once completed)")
    p.add_argument("job_id")

    p = command(
        "watch",
        watch,
        "follow a job's progress to its end; exit 0 completed, 1 failed, 3 cancelled",
    )
    p.add_argument("job_id")
    p.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="give up (exit 7) after this long"
    )

    p = command("list", list_jobs, "list jobs, newest first")
    p.add_argument(
        "--state",
        choices=["queued", "scheduled", "running", "retrying", "completed", "failed", "cancelled"],
    )
    p.add_argument("--type", help="only jobs of this type")
    p.add_argument("--limit", type=int, help="jobs per page (default 20)")
    p.add_argument("--cursor", help="the next page (printed under a full page)")

    p = command("cancel", cancel, "cancel a job (a running one stops at its next progress report)")
    p.add_argument("job_id")
