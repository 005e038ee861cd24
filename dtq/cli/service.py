"""The CLI's commands about the service itself: ``stats``, ``health`` and ``types``
(exit codes: dtq/cli/connection.py)."""

from __future__ import annotations

import argparse
from typing import Any

from dtq.cli import output
from dtq.cli.connection import EXIT_FAILED, EXIT_OK, add_command
from dtq.client import ApiClient


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


EXAMPLES = {
    "stats": "example:\n  dtq stats --url https://myapp.azurewebsites.net --api-key $DTQ_API_KEY",
    "health": "example:\n  dtq health || echo 'a backend is down'",
    "types": "example:\n  dtq types",
}


def register(sub: Any) -> None:
    """Add ``stats``, ``health`` and ``types`` to the ``dtq`` parser's subcommands."""
    for name, handler, help in (
        ("stats", stats, "jobs by state, the dead-letter queue, queues and workers"),
        ("health", health, "is every backend reachable? exit 0 if so, 1 if not"),
        ("types", types, "the job types and their payload fields"),
    ):
        add_command(sub, name, handler, help, EXAMPLES[name])
