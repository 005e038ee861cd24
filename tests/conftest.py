"""Fixtures shared by every test tier: the emulators, started once per session, and the
fake of the providers' APIs, started once per module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest

from tests.support.emulators import (
    Azurite,
    CosmosServer,
    emulators_installed,
    emulators_required,
)
from tests.support.fake_providers import FakeProviders
from tests.support.processes import wait_for_stopped_hosts

E = TypeVar("E", Azurite, CosmosServer)


def _need_emulators() -> None:
    if not emulators_installed():
        message = "npm emulators are not installed (./dev test installs them)"
        if emulators_required():
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def running_emulator(emulator: E) -> Iterator[E]:
    """``emulator`` started for the block and stopped after it; the test is skipped (failed
    under ``./dev test``) where the emulators are not installed. For a test that needs one
    of its own (to stop it mid-run, or to keep its data on disk)."""
    _need_emulators()
    emulator.start()
    try:
        yield emulator
    finally:
        wait_for_stopped_hosts()  # a host stopping in the background may still use it
        emulator.stop()


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with running_emulator(Azurite()) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def cosmos_server() -> Iterator[CosmosServer]:
    with running_emulator(CosmosServer()) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def fake_providers() -> Iterator[FakeProviders]:
    """The local fake of the providers' APIs (tests/support/fake_providers.py), shared by
    a test module; a test sets its modes, and ``reset()`` clears them and its requests."""
    server = FakeProviders().start()
    try:
        yield server
    finally:
        wait_for_stopped_hosts()
        server.stop()


def pytest_sessionfinish() -> None:
    """No host outlives the run (see tests/support/processes.py, stop_in_background)."""
    wait_for_stopped_hosts()
