"""The fixture the trigger tests share: the runtime the triggers run on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.composition import Runtime
from shared.settings import Settings
from tests.support.triggers import installed


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """The app on the embedded backend in the test's folder, installed for the triggers."""
    async with installed(Runtime.from_settings(Settings.load(None, data_dir=tmp_path))) as rt:
        yield rt
