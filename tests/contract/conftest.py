"""The fixtures every contract module shares: ``backends`` makes the implementations a
test runs against (tests/contract/backends.py) and closes them after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contract.backends import Backends


@pytest.fixture
def queue_kind() -> str:
    """The queue ``backends.queue()`` makes; a module overrides it to use another."""
    return "sqlite"


@pytest.fixture
async def backends(
    request: pytest.FixtureRequest, tmp_path: Path, queue_kind: str
) -> AsyncIterator[Backends]:
    made = Backends(request, tmp_path, queue_kind=queue_kind)
    yield made
    await made.aclose()
