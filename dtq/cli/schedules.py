"""The CLI's ``schedules`` command: a tenant's recurring schedules (docs/schedules.md)
listed, shown with their next fire times and the jobs they made, created, paused,
resumed and deleted, through /api/v1/schedules."""

from __future__ import annotations

import argparse
from typing import Any

from dtq.cli import output
from dtq.cli.connection import EXIT_OK, add_command, usage
from dtq.cli.jobs import _payload
from dtq.client import ApiClient

EXAMPLES = """examples:
  dtq schedules create nightly echo --set message=hi --cron "30 1 * * *" --tz Europe/London
  dtq schedules create poll weather --set city=Lisbon --every 900 --overlap skip
  dtq schedules list
  dtq schedules get 01jz...                   next fire times and the jobs it made
  dtq schedules pause 01jz...                 (resume, delete alike)"""

PATH = "/schedules"


def _when(s: dict[str, Any]) -> str:
    return s["cron"] if s.get("cron") else f"every {s['interval_seconds']:g}s"


def _create_body(args: argparse.Namespace) -> dict[str, Any]:
    if (args.cron is None) == (args.every is None):
        raise SystemExit(usage("schedules create: give --cron EXPR or --every SECONDS"))
    template: dict[str, Any] = {"job_type": args.job_type, "payload": _payload(args)}
    if args.priority:
        template["priority"] = args.priority
    if args.max_attempts is not None:
        template["max_attempts"] = args.max_attempts
    body: dict[str, Any] = {
        "name": args.name,
        "template": template,
        "timezone": args.tz,
        "misfire": args.misfire,
        "overlap": args.overlap,
        "paused": args.paused,
    }
    extra = {"cron": args.cron, "interval_seconds": args.every}
    extra |= {"start_at": args.start, "end_at": args.end}
    return body | {k: v for k, v in extra.items() if v is not None}


def _show(s: dict[str, Any]) -> None:
    state = "paused" if s["paused"] else f"next {output.when(s.get('next_fire_at'))}"
    template = s["template"]
    print(f"{s['schedule_id']}  {s['name']}  {_when(s)} ({s['timezone']})  {state}")
    print(f"  job: {template['job_type']} {template['payload']}  priority {template['priority']}")
    print(f"  misfire {s['misfire']}, overlap {s['overlap']}")


def schedules(api: ApiClient, args: argparse.Namespace) -> int:
    action, rest = args.action, list(args.args)
    wanted = {"list": (0, 0), "create": (2, 3)}.get(action, (1, 1))
    if not wanted[0] <= len(rest) <= wanted[1]:
        hint = {"list": "", "create": " NAME JOB_TYPE [PAYLOAD_JSON]"}.get(action, " SCHEDULE_ID")
        return usage(f"usage: dtq schedules {action}{hint}")
    if action == "create":
        args.name, args.job_type = rest[0], rest[1]
        args.payload = rest[2] if len(rest) > 2 else None
        answer = api.request("POST", PATH, json=_create_body(args)).json()
    elif action == "list":
        params = {"limit": args.limit, "cursor": args.cursor}
        answer = api.request("GET", PATH, params=params).json()
        if not args.json:
            rows = [
                [
                    s["schedule_id"],
                    s["name"],
                    _when(s),
                    s["timezone"],
                    "paused" if s["paused"] else output.when(s.get("next_fire_at")),
                    s["template"]["job_type"],
                ]
                for s in answer["items"]
            ]
            headings = ["SCHEDULE ID", "NAME", "WHEN", "ZONE", "NEXT", "JOB TYPE"]
            output.page_table(headings, rows, "(no schedules)", answer, "dtq schedules list")
            return EXIT_OK
    elif action == "get":
        params = {"preview": args.preview}
        answer = api.request("GET", f"{PATH}/{rest[0]}", params=params).json()
        if not args.json:
            _show(answer)
            print("  next: " + (", ".join(answer["next_fire_times"]) or "-"))
            for tick in answer["jobs"]:
                print(f"  {tick['tick_at']}  {tick['outcome']}  {tick['job_id'] or '-'}")
            return EXIT_OK
    elif action == "delete":
        api.request("DELETE", f"{PATH}/{rest[0]}")
        answer = {"deleted": rest[0]}
    else:  # pause, resume
        answer = api.request("POST", f"{PATH}/{rest[0]}:{action}").json()
    if args.json:
        output.emit_json(answer)
    elif action == "delete":
        print(f"deleted {rest[0]}")
    else:
        _show(answer)
    return EXIT_OK


def register(sub: Any) -> None:
    """Add ``schedules`` to the ``dtq`` parser's subcommands."""
    p = add_command(sub, "schedules", schedules, "recurring schedules of jobs", EXAMPLES)
    p.add_argument("action", choices=["list", "get", "create", "pause", "resume", "delete"])
    p.add_argument(
        "args",
        nargs="*",
        metavar="ARG",
        help="create: NAME JOB_TYPE [PAYLOAD_JSON]; get, pause, resume, delete: SCHEDULE_ID",
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="create: a payload field")
    p.add_argument("--cron", help='create: 5 fields, or 6 with seconds first: "30 1 * * *"')
    p.add_argument("--every", type=float, metavar="SECONDS", help="create: a fixed interval")
    p.add_argument("--tz", default="UTC", help="create: IANA time zone of --cron (default UTC)")
    p.add_argument("--start", help="create: no tick before (RFC 3339)")
    p.add_argument("--end", help="create: no tick after (RFC 3339)")
    p.add_argument("--priority", choices=["high", "normal", "low"])
    p.add_argument("--max-attempts", type=int)
    p.add_argument("--misfire", choices=["skip", "run_once"], default="skip")
    p.add_argument("--overlap", choices=["allow", "skip"], default="allow")
    p.add_argument("--paused", action="store_true", help="create: create it paused")
    p.add_argument("--limit", type=int, help="list: schedules per page")
    p.add_argument("--cursor", help="list: the next page")
    p.add_argument("--preview", type=int, default=5, help="get: next fire times to show")
