"""The ``dtq`` command line.

Two kinds of command share it:
- ``serve``, ``worker`` and ``keys`` run the app, or act on its stores, on this
  machine (:mod:`dtq.cli.admin`);
- ``submit``, ``get``, ``watch``, ``list``, ``cancel`` (:mod:`dtq.cli.jobs`), ``logs``
  (:mod:`dtq.cli.logs`), ``dlq``
  (:mod:`dtq.cli.dead_letters`), ``stats``, ``health`` and ``types``
  (:mod:`dtq.cli.service`), ``webhook-secret`` (:mod:`dtq.cli.webhooks`),
  ``schedules`` (:mod:`dtq.cli.schedules`) and ``pause``, ``resume`` and ``pauses``
  (:mod:`dtq.cli.pauses`) talk to
  the HTTP API, local or deployed, through :mod:`dtq.cli.connection`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from dtq.cli import admin, dead_letters, jobs, logs, pauses, schedules, service, webhooks
from dtq.host.refused import FunctionRefused

EPILOG = """examples:
  dtq serve                                   the local host: API, web UI, workers
  dtq submit echo --set message=hi --watch    submit a job and follow it to its end
  dtq list --state failed                     the newest failed jobs
  dtq dlq requeue --all --type weather        give failed weather jobs another go
  dtq stats --url https://myapp.azurewebsites.net --api-key $KEY

`dtq COMMAND --help` shows each command's options and examples."""


#: What a shell reports for a command killed by SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dtq",
        description="dtq: a distributed task queue for Azure Functions and for one machine.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    admin.register(sub)
    jobs.register(sub)
    logs.register(sub)
    dead_letters.register(sub)
    service.register(sub)
    webhooks.register(sub)
    schedules.register(sub)
    pauses.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = int(args.run(args))
        sys.stdout.flush()  # here, not at exit: a closed pipe is handled below
        return code
    except BrokenPipeError:
        # The reader went away (`dtq trace ... | head`): stop quietly, as a Unix tool
        # killed by SIGPIPE does, and keep Python's exit flush from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return 130
    except FunctionRefused as exc:  # what Azure's Python worker would refuse: not run here
        print(f"dtq: {exc} (Azure's Python worker would refuse the app)", file=sys.stderr)
        return 1
    except admin.NotAnAppFolder as exc:
        print(f"dtq {args.command}: {exc}", file=sys.stderr)
        return 2
