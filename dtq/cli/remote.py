"""The CLI commands that talk to the HTTP API: the same commands work against the local
host and against a deployed function app (``--url``, ``DTQ_URL`` or the config file).

Exit codes: 0 done (``watch``: completed); 1 the job failed, or the API refused for
another reason; 2 bad usage or invalid input (400, 422); 3 the job was cancelled;
4 not found; 5 the API cannot be reached; 6 no or wrong API key (401); 7 ``watch``
gave up (``--timeout``); 8 rate limited (429).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dtq.cli import output
from dtq.cli.config import ClientSettings
from dtq.client import ApiClient, ApiProblem, Unreachable

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 3
EXIT_NOT_FOUND, EXIT_UNREACHABLE, EXIT_UNAUTHORIZED, EXIT_TIMEOUT, EXIT_RATE_LIMITED = 4, 5, 6, 7, 8
STATE_EXIT = {"completed": EXIT_OK, "failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}
PROBLEM_EXIT = {
    400: EXIT_USAGE,
    401: EXIT_UNAUTHORIZED,
    404: EXIT_NOT_FOUND,
    422: EXIT_USAGE,
    429: EXIT_RATE_LIMITED,
}

Command = Callable[[ApiClient, argparse.Namespace], int]

#: Jobs per bulk requeue or purge request, and the most rounds one command makes.
BULK_ROUND, MAX_BULK_ROUNDS = 100, 1000


def _err(text: str) -> None:
    print(f"dtq: {text}", file=sys.stderr)


def _run(command: Command) -> Callable[[argparse.Namespace], int]:
    """Open a client from flags, environment and config file; turn errors into advice."""

    def run(args: argparse.Namespace) -> int:
        try:
            settings = ClientSettings.load(
                url=args.url,
                api_key=args.api_key,
                profile=args.profile,
                config_file=Path(args.config) if args.config else None,
            )
        except (ValueError, OSError) as exc:
            _err(f"bad CLI configuration: {exc}")
            return EXIT_USAGE
        try:
            with ApiClient(settings.url, settings.api_key, timeout=args.http_timeout) as api:
                return command(api, args)
        except Unreachable as exc:
            _err(
                f"{exc}\n  Is the server running (`dtq serve`)?"
                " Point the CLI elsewhere with --url or DTQ_URL."
            )
            return EXIT_UNREACHABLE
        except ApiProblem as exc:
            _err(str(exc))
            for error in exc.errors:
                print(
                    f"  {error.get('field') or 'request'}: {error.get('message')}", file=sys.stderr
                )
            if exc.status == 401:
                print(
                    "  Pass a key with --api-key or DTQ_API_KEY"
                    " (create one with `dtq keys create`).",
                    file=sys.stderr,
                )
            # Rate limited, a backend down, a full disk: the server says when to retry.
            if exc.status in (429, 503, 507) and exc.retry_after:
                print(f"  Try again in {exc.retry_after} s.", file=sys.stderr)
            return PROBLEM_EXIT.get(exc.status, EXIT_FAILED)

    return run


# --- payloads -------------------------------------------------------------------
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
                raise SystemExit(_usage(f"cannot read the payload file: {exc}")) from None
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise SystemExit(_usage(f"the payload is not valid JSON: {exc}")) from None
        if not isinstance(loaded, dict):
            raise SystemExit(_usage("the payload must be a JSON object"))
        payload.update(loaded)
    for item in args.set or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SystemExit(_usage(f"--set wants key=value, not {item!r}"))
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        target = payload
        *parents, leaf = key.split(".")
        for part in parents:  # --set location.city=Lisbon
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise SystemExit(_usage(f"--set {item}: {part} is already a value, not an object"))
        target[leaf] = value
    return payload


def _usage(text: str) -> int:
    _err(text)
    return EXIT_USAGE


# --- commands ----------------------------------------------------------------------
def submit(api: ApiClient, args: argparse.Namespace) -> int:
    job = api.submit(
        args.job_type,
        _payload(args),
        priority=args.priority,
        delay_seconds=args.delay,
        max_attempts=args.max_attempts,
        timeout_seconds=args.time_limit,
        idempotency_key=args.idempotency_key,
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
        _err(str(exc))
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
        output.table(["JOB ID", "TYPE", "REASON", "ATTEMPTS", "FAILED", "LAST ERROR"], rows)
        if not rows:
            print("(the dead-letter queue is empty)")
        if page.get("next_cursor"):
            print(f"more: dtq dlq list --cursor {page['next_cursor']}")
        return EXIT_OK
    if bool(args.job_ids) == bool(args.all):
        return _usage(f"dlq {args.action}: name job ids, or pass --all (with --type to narrow it)")
    if args.action == "purge" and args.all and not args.yes:
        if not sys.stdin.isatty():
            return _usage("dlq purge --all deletes jobs for good: add --yes to confirm")
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


def stats(api: ApiClient, args: argparse.Namespace) -> int:
    data = api.stats()
    output.emit_json(data) if args.json else output.show_stats(data)
    return EXIT_OK


def health(api: ApiClient, args: argparse.Namespace) -> int:
    report = api.health()
    if args.json:
        output.emit_json(report)
    else:
        print(f"{api.base_url}: {'ok' if report['ok'] else 'DEGRADED'}")
        for name, check in report["checks"].items():
            print(f"  {name:<20} {'ok' if check['ok'] else 'DOWN: ' + check.get('error', '')}")
    return EXIT_OK if report["ok"] else EXIT_FAILED


def types(api: ApiClient, args: argparse.Namespace) -> int:
    items = api.job_types()
    if args.json:
        output.emit_json(items)
        return EXIT_OK
    for item in items:
        schema = item.get("payload_schema") or {}
        required = set(schema.get("required", []))
        fields = [
            f"{name}{'' if name in required else '?'}" for name in schema.get("properties", {})
        ]
        print(f"{item['job_type']:<16} {item.get('description', '')}")
        if fields:
            print(f"{'':<16} payload: {', '.join(fields)}")
    return EXIT_OK


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- parser --------------------------------------------------------------------------
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
    "dlq": """examples:
  dtq dlq list --type weather
  dtq dlq requeue 01jq3v5k8m2x7c9d4f6g8h0j1k
  dtq dlq requeue --all --type weather
  dtq dlq purge --all --yes""",
    "stats": "example:\n  dtq stats --url https://myapp.azurewebsites.net --api-key $DTQ_API_KEY",
    "health": "example:\n  dtq health || echo 'a backend is down'",
    "types": "example:\n  dtq types",
}


def register(sub: Any) -> None:
    """Add the API commands to the ``dtq`` parser's subcommands."""
    connection = argparse.ArgumentParser(add_help=False)
    group = connection.add_argument_group(
        "connection (flags win over DTQ_URL / DTQ_API_KEY and the config file)"
    )
    group.add_argument(
        "--url",
        help="the API's base URL (default: DTQ_URL, the config file, or http://127.0.0.1:7071)",
    )
    group.add_argument("--api-key", help="API key (default: DTQ_API_KEY or the config file)")
    group.add_argument(
        "--profile", help="a [profiles.NAME] table of the config file (default: DTQ_PROFILE)"
    )
    group.add_argument(
        "--config", help="config file (default: DTQ_CONFIG or ~/.config/dtq/config.toml)"
    )
    group.add_argument(
        "--http-timeout",
        type=float,
        default=30.0,
        help="seconds per request (default: %(default)s)",
    )
    connection.add_argument("--json", action="store_true", help="print the API's JSON, for scripts")

    def command(name: str, handler: Command, help: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(
            name,
            help=help,
            description=help,
            parents=[connection],
            epilog=EXAMPLES.get(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.set_defaults(run=_run(handler))
        return parser

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

    p = command("dlq", dlq, "the dead-letter queue: list, requeue, purge")
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

    command("stats", stats, "jobs by state, the dead-letter queue, queues and workers")
    command("health", health, "is every backend reachable? exit 0 if so, 1 if not")
    command("types", types, "the job types and their payload fields")
