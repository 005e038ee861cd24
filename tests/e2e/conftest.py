from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.emulators import Azurite, CosmosServer
from tests.support.processes import LocalHost, running_host


@pytest.fixture(scope="module", params=["embedded", "azure"])
def host(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalHost]:
    """One ``dtq serve`` (2 worker processes) shared by a test module, on the embedded
    backend and again on the Azure adapters."""
    env = {**backend_env(request.param, request), "DTQ_RETRY_BACKOFF_BASE_SECONDS": "0.1"}
    with running_host(
        Path(tmp_path_factory.mktemp("dtq-e2e")), workers=2, env=env, background_stop=True
    ) as local:
        yield local


def module_host(name: str, env: dict[str, str] | None = None) -> Any:
    """A fixture: one ``dtq serve`` (1 worker process) with ``env``, on the embedded
    backend, shared by a test module; the module binds it to its name:
    ``host = module_host("slow", {"DTQ_REQUEST_HEAD_TIMEOUT_SECONDS": "1"})``."""

    @pytest.fixture(scope="module")
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
        with running_host(
            Path(tmp_path_factory.mktemp(name)), env=env, background_stop=True
        ) as local:
            yield local

    return fixture


@pytest.fixture
def api(host: LocalHost) -> Iterator[Api]:
    with Api(host.base_url) as client:
        yield client


BACKENDS = ["embedded", "azure"]


def azure_env(azurite: Azurite, cosmos: CosmosServer, name: str) -> dict[str, str]:
    """Settings for every store on the Azure adapters: Table storage on ``azurite``
    (tables ``<name>jobs``, ``<name>idem``, ...), Cosmos DB on ``cosmos`` (container
    ``<name>``); the queue stays embedded (no Service Bus broker runs here)."""
    return {
        "DTQ_STATUS_BACKEND": "table",
        "TableStorageConnection": azurite.connection_string,
        "DTQ_STATUS_TABLE": name + "jobs",
        "DTQ_IDEMPOTENCY_TABLE": name + "idem",
        "DTQ_API_KEYS_TABLE": name + "keys",
        "DTQ_RATES_TABLE": name + "rates",
        "DTQ_SLOTS_TABLE": name + "slots",
        "DTQ_RESULT_BACKEND": "cosmos",
        "CosmosDBConnection": cosmos.connection_string,
        "DTQ_COSMOS_RESULTS_CONTAINER": name,
    }


def backend_env(kind: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings for a local host on the embedded backend, or on the Azure adapters with
    tables of its own (see azure_env)."""
    if kind == "embedded":
        return {}
    return azure_env(
        request.getfixturevalue("azurite"),
        request.getfixturevalue("cosmos_server"),
        "e" + uuid.uuid4().hex[:10],
    )
