"""The CLI's ``webhook-secret`` command: the tenant's signing secret for completion
webhooks (docs/api.md), printed, or rotated with the old one still signing a while."""

from __future__ import annotations

import argparse
from typing import Any

from dtq.cli import output
from dtq.cli.connection import EXIT_OK, add_command
from dtq.client import ApiClient

EXAMPLES = """examples:
  dtq webhook-secret                          print the secret receivers verify with
  dtq webhook-secret --rotate                 a new one; the old one signs a day more
  dtq webhook-secret --rotate --keep-previous 0   a leaked secret: stop it at once"""


def webhook_secret(api: ApiClient, args: argparse.Namespace) -> int:
    body = api.webhook_secret(rotate=args.rotate, keep=args.keep_previous)
    if args.json:
        output.emit_json(body)
        return EXIT_OK
    print(body["secret"])
    if body.get("previous_signs_until"):
        print(f"(the previous secret also signs until {body['previous_signs_until']})")
    return EXIT_OK


def register(sub: Any) -> None:
    """Add ``webhook-secret`` to the ``dtq`` parser's subcommands."""
    p = add_command(
        sub,
        "webhook-secret",
        webhook_secret,
        "your tenant's secret that signs completion webhooks",
        EXAMPLES,
    )
    p.add_argument("--rotate", action="store_true", help="make a new secret")
    p.add_argument(
        "--keep-previous",
        type=int,
        metavar="SECONDS",
        help="with --rotate: how long the replaced secret still signs (default a day)",
    )
