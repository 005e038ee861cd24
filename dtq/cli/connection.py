"""What the CLI commands that talk to the HTTP API share: their connection flags, the
client opened from them (flags, environment, config file), and the errors turned into
advice and exit codes. The same commands work against the local host and against a
deployed function app (``--url``, ``DTQ_URL`` or the config file).

Exit codes: 0 done (``watch``: completed); 1 the job failed, or the API refused for
another reason; 2 bad usage or invalid input (400, 422); 3 the job was cancelled;
4 not found; 5 the API cannot be reached; 6 no or wrong API key (401); 7 ``watch``
gave up (``--timeout``); 8 rate limited (429).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def err(text: str) -> None:
    print(f"dtq: {text}", file=sys.stderr)


def usage(text: str) -> int:
    err(text)
    return EXIT_USAGE


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
            err(f"bad CLI configuration: {exc}")
            return EXIT_USAGE
        try:
            with ApiClient(settings.url, settings.api_key, timeout=args.http_timeout) as api:
                return command(api, args)
        except Unreachable as exc:
            err(
                f"{exc}\n  Is the server running (`dtq serve`)?"
                " Point the CLI elsewhere with --url or DTQ_URL."
            )
            return EXIT_UNREACHABLE
        except ApiProblem as exc:
            err(str(exc))
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


def _connection_flags() -> argparse.ArgumentParser:
    """The flags every API command takes (a parent parser)."""
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
    return connection


def add_command(
    sub: Any, name: str, handler: Command, help: str, examples: str | None
) -> argparse.ArgumentParser:
    """Add an API command to the ``dtq`` parser's subcommands: the connection flags,
    ``--json``, and ``handler`` run with a client opened from them."""
    parser = sub.add_parser(
        name,
        help=help,
        description=help,
        parents=[_connection_flags()],
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=_run(handler))
    return parser
