"""``dtq serve``, ``dtq worker``, ``dtq keys``, ``dtq trace`` and ``dtq rebuild-index``
(dtq/cli/rebuild.py): commands that run the app or act on its stores directly (on this
machine, with the app's settings).

The app is not installed with the tools: each of these commands loads it from its
folder (``--app-dir``, by default the current one), as ``func start`` does, and refuses
a folder that holds no function app."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.settings import Settings

#: What makes a folder a function app (as for ``func start``).
APP_FILES = ("function_app.py", "host.json")


class NotAnAppFolder(Exception):
    """The folder a command was pointed at holds no function app."""


def app_folder(args: argparse.Namespace) -> Path:
    """The app's folder, put first on ``sys.path`` so that ``function_app``, ``functions``
    and ``shared`` import from it; NotAnAppFolder if it holds no function app."""
    folder = Path(args.app_dir).resolve()
    missing = [name for name in APP_FILES if not (folder / name).is_file()]
    if missing:
        raise NotAnAppFolder(
            f"{folder} is not a function app folder (no {' or '.join(missing)}): run dtq"
            " in the folder that holds function_app.py and host.json, or pass --app-dir"
        )
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return folder


def _settings(args: argparse.Namespace) -> Settings:
    folder = app_folder(args)
    from shared.settings import Settings

    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    return Settings.load(folder / "local.settings.json", **overrides)


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)  # first: finds the app folder and puts it on sys.path
    from dtq.host.serve import ServeOptions, configure_logging, run_serve
    from shared.net import is_loopback

    configure_logging(settings)
    remote = not is_loopback(args.host)
    if remote and not settings.require_api_keys and not args.insecure_allow_remote:
        print(
            f"dtq serve: refusing to listen on {args.host} without API keys: set "
            "DTQ_REQUIRE_API_KEYS=true and create keys with `dtq keys create`, or bind "
            "to 127.0.0.1 (or pass --insecure-allow-remote on a network you trust)",
            file=sys.stderr,
        )
        return 2
    options = ServeOptions(
        host=args.host, port=args.port, workers=args.workers, app_dir=app_folder(args)
    )
    asyncio.run(run_serve(settings, options))
    return 0


def _worker(args: argparse.Namespace) -> int:
    settings = _settings(args)  # first: finds the app folder and puts it on sys.path
    from dtq.host.serve import configure_logging, run_worker

    configure_logging(settings)
    asyncio.run(run_worker(settings, app_folder(args)))
    return 0


def _keys(args: argparse.Namespace) -> int:
    """``dtq keys create|list|revoke``: administer API keys in the configured stores."""
    import json

    app_folder(args)
    from shared.composition import Runtime
    from shared.errors import DtqError

    async def run() -> int:
        runtime = Runtime.from_settings(_settings(args))
        try:
            access = runtime.access
            if args.action == "create":
                key, token = await access.create_key(args.tenant, args.name or "")
                if args.json:
                    print(json.dumps({**_key_json(key), "token": token}))
                else:
                    print(f"created key {key.key_id} for tenant {key.tenant_id}")
                    print(f"token (shown once, keep it secret): {token}")
            elif args.action == "list":
                keys = await access.keys.list(args.tenant)
                if args.json:
                    print(json.dumps([_key_json(k) for k in keys]))
                else:
                    print(f"{'key id':<14} {'tenant':<20} {'created':<20} {'revoked':<20} name")
                    for k in keys:
                        revoked = k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else "-"
                        created = k.created_at.strftime("%Y-%m-%d %H:%M")
                        print(
                            f"{k.key_id:<14} {k.tenant_id:<20} {created:<20} {revoked:<20} {k.name}"
                        )
            else:
                key = await access.revoke_key(args.key_id)
                print(json.dumps(_key_json(key)) if args.json else f"revoked key {key.key_id}")
            return 0
        except DtqError as exc:
            print(f"dtq keys: {exc}", file=sys.stderr)
            return 1
        finally:
            await runtime.close()

    return asyncio.run(run())


def _trace(args: argparse.Namespace) -> int:
    """``dtq trace JOB_ID``: the job's trace from the spans the local host wrote."""
    import json

    app_folder(args)
    from shared.traces import job_trace, local_traces_dir, read_spans

    settings = _settings(args)
    folder = Path(args.traces_dir) if args.traces_dir else local_traces_dir(settings.telemetry)
    if not folder.is_dir():
        print(
            f"dtq trace: no local traces in {folder}: run the host with DTQ_TRACES_DIR set"
            " (e.g. DTQ_TRACES_DIR=.dtq/traces ./dev run), or pass --traces-dir",
            file=sys.stderr,
        )
        return 2
    spans = job_trace(read_spans(folder), args.job_id)
    if not spans:
        print(f"dtq trace: no spans of job {args.job_id} in {folder}", file=sys.stderr)
        return 4
    if args.json:
        print(json.dumps(spans, indent=2))
        return 0
    print(f"trace {spans[0]['trace_id']} of job {args.job_id}")
    for depth, span in _tree(spans):
        took = (span["end"] - span["start"]) / 1e6
        extra = [f"pid {span['pid']}"]
        attrs = span["attributes"]
        if "http.response.status_code" in attrs:
            extra.append(f"HTTP {attrs['http.response.status_code']}")
        if "dtq.outcome" in attrs:
            extra.append(str(attrs["dtq.outcome"]))
        if span["status"] == "ERROR":
            extra.append("ERROR")
        label = f"{'  ' * depth}{span['name']}"
        print(f"{label:<48} {took:9.1f} ms  {', '.join(extra)}")
    return 0


def _tree(spans: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Spans in start order, each under its parent (a parent not kept: a root)."""
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in sorted(spans, key=lambda s: s["start"]):
        parent = span["parent_id"] if span["parent_id"] in ids else None
        children.setdefault(parent, []).append(span)
    out: list[tuple[int, dict[str, Any]]] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            out.append((depth, span))
            walk(span["span_id"], depth + 1)

    walk(None, 0)
    return out


def _key_json(key: Any) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "tenant_id": key.tenant_id,
        "name": key.name,
        "created_at": _iso(key.created_at),
        "revoked_at": _iso(key.revoked_at) if key.revoked_at else None,
    }


def _iso(at: Any) -> str:
    """UTC as the API writes it (pydantic's form): ``2026-11-29T12:00:00.5Z``."""
    from shared.jobs import iso_utc

    return iso_utc(at)


def register(sub: Any) -> None:
    """Add ``serve``, ``worker`` and ``keys`` to the ``dtq`` parser's subcommands."""

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
        help="allow a non-loopback address without requiring API keys",
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

    keys = sub.add_parser(
        "keys",
        help="create, list and revoke API keys (in the configured stores)",
        epilog="examples:\n  dtq keys create --tenant acme --name ci\n  dtq keys list --tenant acme"
        "\n  dtq keys revoke 3f2a9c1b0d4e",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    key_actions = keys.add_subparsers(dest="action", required=True)
    create = key_actions.add_parser(
        "create", help="a new key for a tenant (the token is shown once)"
    )
    create.add_argument("--tenant", required=True, help="tenant id the key acts for")
    create.add_argument("--name", help="what the key is for")
    listing = key_actions.add_parser("list", help="keys, without their secrets")
    listing.add_argument("--tenant", help="only this tenant's keys")
    revoke = key_actions.add_parser("revoke", help="revoke a key (within 10 s everywhere)")
    revoke.add_argument("key_id")
    for p in (create, listing, revoke):
        p.add_argument("--json", action="store_true", help="print JSON")
        common(p)
    keys.set_defaults(run=_keys)

    traced = sub.add_parser(
        "trace",
        help="show a job's trace from the local host's spans (DTQ_TRACES_DIR)",
        epilog="example (the host started as DTQ_TRACES_DIR=.dtq/traces ./dev run):"
        "\n  dtq trace 01jq3v5k8m2x7c9d4f6g8h0j1k | head",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    traced.add_argument("job_id")
    traced.add_argument(
        "--traces-dir",
        help="folder of spans-*.jsonl (default: DTQ_TRACES_DIR, else where the local host"
        " on --data-dir writes them, else DATA_DIR/traces)",
    )
    traced.add_argument("--json", action="store_true", help="print the spans as JSON")
    common(traced)
    traced.set_defaults(run=_trace)

    from dtq.cli import rebuild

    rebuild.register(sub, common)
