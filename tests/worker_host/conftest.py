"""Fixtures of the worker-harness tier: Microsoft's Python worker library with the app
loaded (tests/support/functions_worker.py), and a fresh embedded runtime per test."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from functions.runtime import install
from shared.composition import Runtime
from shared.settings import Settings
from tests.support.functions_worker import ROOT, FunctionsWorker, worker_library_installed


def need_worker_library() -> None:
    if not worker_library_installed():
        message = "Microsoft's Python worker library is not installed (./dev test installs it)"
        if os.environ.get("DTQ_REQUIRE_WORKER_LIB"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def functions_worker() -> Iterator[FunctionsWorker]:
    """The worker with ``function_app.py`` indexed and every function loaded."""
    need_worker_library()
    worker = asyncio.run(FunctionsWorker(ROOT).start())
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """What the functions run on: the embedded backend, with an events queue as in Azure
    (a SignalR setting turns publishing on) and no backoff between attempts."""
    rt = Runtime.from_settings(
        Settings.load(
            None,
            data_dir=tmp_path,
            signalr_service_uri="https://dtq-test.service.signalr.net",
            retry_backoff_base_seconds=0,
        )
    )
    install(rt)
    yield rt
    install(None)
    await rt.close()
