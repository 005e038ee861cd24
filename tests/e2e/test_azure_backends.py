"""End to end on the Azure adapters: status in Azurite, results in the Cosmos server, the
queue embedded. The test reads the stored data back with the Azure SDKs directly."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.cosmos import CosmosClient
from azure.data.tables import TableServiceClient

from shared.adapters.azure.connections import parse_cosmos_connection_string
from shared.adapters.azure.table_status import TableStatusStore, row_key
from tests.conftest import running_emulator
from tests.e2e.conftest import azure_env
from tests.support.api import Api
from tests.support.emulators import Azurite, CosmosServer
from tests.support.processes import JOB_MESSAGES, LocalHost, free_port

pytestmark = pytest.mark.e2e


def fast_retries(env: dict[str, str]) -> dict[str, str]:
    return {**env, "DTQ_RETRY_BACKOFF_BASE_SECONDS": "0.1"}


def test_jobs_complete_with_status_in_tables_and_results_in_cosmos(
    tmp_path: Path, azurite: Azurite, cosmos_server: CosmosServer
) -> None:
    host = LocalHost(
        data_dir=tmp_path, workers=2, env=fast_retries(azure_env(azurite, cosmos_server, "e2e"))
    )
    host.start()
    try:
        with Api(host.base_url) as client:
            ids = [
                client.submit("simulate", {"duration_ms": 300, "steps": 3, "fail_first": i % 2})[
                    "job_id"
                ]
                for i in range(4)
            ]
            done = [client.wait(job_id, timeout=30) for job_id in ids]
            listed = client.jobs(limit=10)["items"]
    finally:
        host.stop()

    assert [j["state"] for j in done] == ["completed"] * 4
    assert [j["attempt"] for j in done] == [1, 2, 1, 2]
    assert [j["job_id"] for j in listed] == list(reversed(ids)), "listed newest first"

    # The status rows are in the table, under the documented keys.
    tables = TableServiceClient.from_connection_string(azurite.connection_string)
    table = tables.get_table_client("e2ejobs")
    keys = TableStatusStore(tables, "e2ejobs", shards=8)
    for job_id in ids:
        entity = table.get_entity(keys.partition_key("local", job_id), row_key(job_id))
        assert entity["state"] == "completed" and entity["job_type"] == "simulate"

    # The results are Cosmos items keyed by job id, with a TTL.
    endpoint, key = parse_cosmos_connection_string(cosmos_server.connection_string)
    cosmos = CosmosClient(endpoint, credential=key, enable_endpoint_discovery=False)
    container = cosmos.get_database_client("dtq").get_container_client("e2e")
    for job_id, job in zip(ids, done, strict=True):
        item = container.read_item(job_id, partition_key=job_id)
        assert item["result"] == {"duration_ms": 300, "steps": 3, "attempt": job["attempt"]}
        assert item["ttl"] == 7 * 24 * 3600

    # Nothing of it went to the embedded store.
    with sqlite3.connect(tmp_path / "dtq.sqlite3") as db:
        tables_in_sqlite = {
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert "jobs" not in tables_in_sqlite and "job_results" not in tables_in_sqlite


@pytest.fixture
def persistent_azurite(tmp_path: Path) -> Iterator[Azurite]:
    """An Azurite of this test's own that keeps its data on disk across a restart."""
    with running_emulator(Azurite(location=tmp_path / "azurite", port=free_port())) as emulator:
        yield emulator


def test_status_store_outage_is_503_and_recovers(
    tmp_path: Path, persistent_azurite: Azurite, cosmos_server: CosmosServer
) -> None:
    data = tmp_path / "data"
    host = LocalHost(
        data_dir=data,
        workers=1,
        env=fast_retries(azure_env(persistent_azurite, cosmos_server, "outage")),
    )
    host.start()
    try:
        with Api(host.base_url, timeout=30) as client:
            before = client.submit("echo", {"message": "before"})["job_id"]
            assert client.wait(before, timeout=30)["state"] == "completed"
            time.sleep(6)  # Azurite saves to disk every 5 s; give it one save

            persistent_azurite.stop()
            during = {"job_type": "echo", "payload": {"message": "during"}}
            refused = client.http.post("/jobs", json=during)
            assert refused.status_code == 503
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert int(refused.headers["Retry-After"]) >= 1
            assert client.http.get("/healthz").status_code == 503
            with sqlite3.connect(data / "dtq.sqlite3") as db:
                queued = db.execute(JOB_MESSAGES).fetchone()[0]
            assert queued == 0, "a refused job left nothing half-written in the queue"

            persistent_azurite.start()
            after = client.submit("echo", {"message": "after"})
            assert client.wait(after["job_id"], timeout=30)["state"] == "completed"
            assert client.get(before)["state"] == "completed", "kept across the outage"
            assert client.health()["ok"] is True
    finally:
        host.stop()
