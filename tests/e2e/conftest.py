from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import LocalHost


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    """One ``dtq serve`` (2 worker processes) shared by a test module."""
    local = LocalHost(data_dir=Path(tmp_path_factory.mktemp("dtq-e2e")), workers=2)
    local.env["DTQ_RETRY_BACKOFF_BASE_SECONDS"] = "0.1"
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def api(host: LocalHost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{host.base_url}/api/v1", timeout=10) as client:
        yield client
