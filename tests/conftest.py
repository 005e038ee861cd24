"""Fixtures shared by every test tier: the emulators, started once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.emulators import (
    Azurite,
    CosmosServer,
    emulators_installed,
    emulators_required,
)


def _need_emulators() -> None:
    if not emulators_installed():
        message = "npm emulators are not installed (./dev test installs them)"
        if emulators_required():
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    _need_emulators()
    emulator = Azurite().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def cosmos_server() -> Iterator[CosmosServer]:
    _need_emulators()
    emulator = CosmosServer().start()
    try:
        yield emulator
    finally:
        emulator.stop()
