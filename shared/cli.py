"""The ``dtq`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from shared.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    return Settings.load(Path(args.app_dir) / "local.settings.json", **overrides)


def _serve(args: argparse.Namespace) -> int:
    from shared.host.serve import ServeOptions, configure_logging, run_serve
    from shared.net import is_loopback

    settings = _settings(args)
    configure_logging(settings.log_level)
    if not is_loopback(args.host) and not args.insecure_allow_remote:
        print(
            f"dtq serve: refusing to listen on {args.host}: the API has no authentication yet; "
            "bind to 127.0.0.1 or pass --insecure-allow-remote",
            file=sys.stderr,
        )
        return 2
    options = ServeOptions(
        host=args.host, port=args.port, workers=args.workers, app_dir=Path(args.app_dir).resolve()
    )
    asyncio.run(run_serve(settings, options))
    return 0


def _worker(args: argparse.Namespace) -> int:
    from shared.host.serve import configure_logging, run_worker

    settings = _settings(args)
    configure_logging(settings.log_level)
    asyncio.run(run_worker(settings, Path(args.app_dir).resolve()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dtq",
        description="dtq: a distributed task queue for Azure Functions and for one machine.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data-dir", help="folder of the embedded backend (default: DTQ_DATA_DIR or .dtq)"
        )
        p.add_argument(
            "--app-dir",
            default=".",
            help="folder holding function_app.py, host.json and static-web/ (default: .)",
        )

    serve = sub.add_parser(
        "serve",
        help="run the local host: HTTP API, web UI and worker processes",
        epilog="example: dtq serve --port 7071 --workers 2",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument("--port", type=int, default=7071, help="port (default: %(default)s)")
    serve.add_argument(
        "--workers", type=int, default=2, help="worker processes to run (default: %(default)s)"
    )
    serve.add_argument(
        "--insecure-allow-remote",
        action="store_true",
        help="allow a non-loopback address although the API has no authentication",
    )
    common(serve)
    serve.set_defaults(run=_serve)

    worker = sub.add_parser(
        "worker",
        help="run one more worker process on the same data",
        epilog="example: dtq worker --data-dir .dtq",
    )
    common(worker)
    worker.set_defaults(run=_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
