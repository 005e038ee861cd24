"""The CLI's ``pause``, ``resume`` and ``pauses`` commands: hold the jobs of a job type
or a priority and let them run again (every tenant's with an operator key, or one
tenant's: a tenant's key holds its own), and list what is paused, through
/api/v1/pauses (docs/pauses.md)."""

from __future__ import annotations

import argparse
from typing import Any

from dtq.cli import output
from dtq.cli.connection import EXIT_OK, add_command, usage
from dtq.client import ApiClient

PATH = "/pauses"
TENANT_HELP = (
    "only this tenant's jobs (an operator key; a tenant's key always acts on its own);"
    " without it an operator key acts on every tenant's"
)

EXAMPLES = {
    "pause": """examples:
  dtq pause --type weather --reason "provider maintenance"
  dtq pause --priority low                    hold the low-priority jobs
  dtq pause --type simulate --tenant acme     hold one tenant's (operator key)""",
    "resume": """examples:
  dtq resume --type weather
  dtq resume --priority low
  dtq resume --type simulate --tenant acme""",
    "pauses": "examples:\n  dtq pauses\n  dtq pauses --tenant acme     (operator key)",
}


def _target(args: argparse.Namespace) -> tuple[str, str]:
    if (args.type is None) == (args.priority is None):
        raise SystemExit(usage(f"dtq {args.command}: give --type JOB_TYPE or --priority P"))
    return ("job_type", args.type) if args.type is not None else ("priority", args.priority)


def _tenant(args: argparse.Namespace) -> dict[str, str]:
    return {"tenant": args.tenant} if args.tenant else {}


def pause(api: ApiClient, args: argparse.Namespace) -> int:
    kind, value = _target(args)
    body = {kind: value, "reason": args.reason or "", **_tenant(args)}
    answer = api.request("POST", PATH, json=body).json()
    output.emit_json(answer) if args.json else print(f"paused: {output.pause_line(answer)}")
    return EXIT_OK


def resume(api: ApiClient, args: argparse.Namespace) -> int:
    kind, value = _target(args)
    answer = api.request("DELETE", f"{PATH}/{kind}/{value}", params=_tenant(args)).json()
    output.emit_json(answer) if args.json else print(f"resumed: {output.pause_line(answer)}")
    return EXIT_OK


def pauses(api: ApiClient, args: argparse.Namespace) -> int:
    items = api.request("GET", PATH, params=_tenant(args)).json()["items"]
    if args.json:
        output.emit_json(items)
    else:
        print("\n".join(output.pause_line(p) for p in items) if items else "(nothing is paused)")
    return EXIT_OK


def register(sub: Any) -> None:
    """Add ``pause``, ``resume`` and ``pauses`` to the ``dtq`` parser's subcommands."""
    for name, handler, help in (
        ("pause", pause, "hold the jobs of a job type or priority"),
        ("resume", resume, "let the held jobs of a job type or priority run again"),
    ):
        p = add_command(sub, name, handler, help, EXAMPLES[name])
        p.add_argument("--type", metavar="JOB_TYPE", help="a job type")
        p.add_argument("--priority", choices=["high", "normal", "low"], help="a priority")
        p.add_argument("--tenant", help=TENANT_HELP)
        if name == "pause":
            p.add_argument("--reason", help="shown with the pause")
    p = add_command(sub, "pauses", pauses, "what is paused", EXAMPLES["pauses"])
    p.add_argument("--tenant", help="also this tenant's pauses (operator key)")
