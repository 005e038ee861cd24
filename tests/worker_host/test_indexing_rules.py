"""The local host refuses what Microsoft's Python worker refuses, and runs what it runs.

Each case is a one-function app. The worker library indexes it as Azure would; the
local host's own check (dtq/host/indexing.py) must reach the same verdict. A case the
two disagree on is a behaviour that exists on one host only.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dtq.host.indexing import FunctionRefused, check_app
from tests.support.functions_worker import FunctionsWorker, IndexingFailed
from tests.support.processes import ROOT
from tests.worker_host.conftest import need_worker_library

HEADER = """
import typing
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
"""

SB_MANY = (
    '@app.service_bus_queue_trigger(arg_name="events", queue_name="q", connection="C",'
    ' cardinality="many")'
)
SB_ONE = '@app.service_bus_queue_trigger(arg_name="msg", queue_name="q", connection="C")'
HTTP = '@app.route(route="r", methods=["POST"])'
OUT = (
    '@app.generic_output_binding(arg_name="out", type="signalR", hubName="h",'
    ' connectionStringSetting="S")'
)
TIMER = '@app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *")'

#: (case, decorators, signature, accepted by the worker)
CASES = [
    ("typing-list-batch", [SB_MANY], "events: typing.List[func.ServiceBusMessage]) -> None", True),
    ("pep585-list-batch", [SB_MANY], "events: list[func.ServiceBusMessage]) -> None", False),
    ("pep604-optional", [SB_ONE], "msg: func.ServiceBusMessage | None) -> None", False),
    ("typing-optional", [SB_ONE], "msg: typing.Optional[func.ServiceBusMessage]) -> None", False),
    ("one-message", [SB_ONE], "msg: func.ServiceBusMessage) -> None", True),
    ("message-as-str", [SB_ONE], "msg: str) -> None", True),
    ("message-as-dict", [SB_ONE], "msg: dict) -> None", False),
    ("http", [HTTP], "req: func.HttpRequest) -> func.HttpResponse", True),
    ("http-as-dict", [HTTP], "req: dict) -> func.HttpResponse", False),
    ("http-generic-return", [HTTP], "req: func.HttpRequest) -> dict[str, str]", False),
    ("http-returns-out", [HTTP], "req: func.HttpRequest) -> func.Out[str]", False),
    ("unbound-param", [HTTP], "req: func.HttpRequest, extra: str) -> func.HttpResponse", False),
    ("output-str", [SB_ONE, OUT], "msg: func.ServiceBusMessage, out: func.Out[str]) -> None", True),
    ("output-not-out", [SB_ONE, OUT], "msg: func.ServiceBusMessage, out: str) -> None", False),
    ("input-as-out", [SB_ONE], "msg: func.Out[str]) -> None", False),
    (
        "output-pep585",
        [SB_ONE, OUT],
        "msg: func.ServiceBusMessage, out: func.Out[list[str]]) -> None",
        False,
    ),
    ("timer", [TIMER], "timer: func.TimerRequest) -> None", True),
    ("context", [TIMER], "timer: func.TimerRequest, context: func.Context) -> None", True),
    ("context-mistyped", [TIMER], "timer: func.TimerRequest, context: str) -> None", False),
]


def write_app(folder: Path, name: str, decorators: list[str], signature: str) -> Path:
    module = name.replace("-", "_")
    body = "\n".join([*decorators, f"def {module}({signature}:", "    return None"])
    path = folder / f"case_{module}.py"
    path.write_text(textwrap.dedent(HEADER) + "\n\n" + body + "\n")
    return path


def local_verdict(path: Path) -> str | None:
    spec = importlib.util.spec_from_file_location(f"local_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        check_app(module.app.get_functions())
    except FunctionRefused as exc:
        return str(exc)
    return None


def worker_verdict(path: Path) -> str | None:
    worker = FunctionsWorker(path.parent, script_file=path.name)
    try:
        asyncio.run(worker.start())
    except IndexingFailed as exc:
        return str(exc)
    finally:
        worker.stop()
    return None


@pytest.mark.parametrize(
    ("name", "decorators", "signature", "accepted"), CASES, ids=[c[0] for c in CASES]
)
def test_the_local_host_and_the_worker_agree(
    tmp_path: Path, name: str, decorators: list[str], signature: str, accepted: bool
) -> None:
    need_worker_library()
    path = write_app(tmp_path, name, decorators, signature)

    worker, local = worker_verdict(path), local_verdict(path)

    assert (worker is None) == accepted, f"the worker: {worker}"
    assert (local is None) == accepted, f"the local host: {local}"


def test_the_refusal_gives_the_workers_reason(tmp_path: Path) -> None:
    need_worker_library()
    path = write_app(tmp_path, "batch", [SB_MANY], "events: list[func.ServiceBusMessage]) -> None")

    worker, local = worker_verdict(path), local_verdict(path)

    reason = (
        "cannot load the batch function: binding events has invalid non-type annotation"
        " list[azure.functions._servicebus.ServiceBusMessage]"
    )
    assert worker is not None and reason in worker
    assert local is not None and reason in local


def test_dtq_serve_refuses_an_app_the_worker_would_refuse(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text(
        textwrap.dedent(HEADER)
        + f"\n\n{SB_MANY}\n"
        + "def batch(events: list[func.ServiceBusMessage]) -> None:\n    return None\n"
    )
    (tmp_path / "host.json").write_text('{"version": "2.0"}')

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dtq.cli",
            "serve",
            "--app-dir",
            str(tmp_path),
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        # This one-function app has no shared/ of its own: the local host runs on dtq's.
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )

    assert done.returncode == 1, done.stderr
    assert "cannot load the batch function" in done.stderr
    assert "Traceback" not in done.stderr
