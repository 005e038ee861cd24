"""Backend faults in the middle of a run: the results store (the Cosmos server) or the
status store (Azurite, behind a proxy that cuts the network) goes away and comes back.
The API answers 503 with Retry-After while it cannot persist, accepted jobs are not
lost, nothing is dead-lettered, and the same worker processes finish the work once the
backend is back."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import running_emulator
from tests.support.api import Api
from tests.support.emulators import Azurite, CosmosServer
from tests.support.processes import JOB_MESSAGES, LocalHost
from tests.support.proxy import TcpProxy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Between deliveries during an outage the worker waits 1, 2, 4, 4, ... s.
OUTAGE_BACKOFF = {"DTQ_OUTAGE_BACKOFF_BASE_SECONDS": "1", "DTQ_OUTAGE_BACKOFF_MAX_SECONDS": "4"}


def submit_simulations(api: Api, count: int, duration_ms: int, steps: int) -> list[str]:
    payload = {"duration_ms": duration_ms, "steps": steps}
    return [api.submit("simulate", payload)["job_id"] for _ in range(count)]


def wait_all_completed(api: Api, ids: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    states: list[str] = []
    while time.monotonic() < deadline:
        states = [api.get(job_id)["state"] for job_id in ids]
        if all(s == "completed" for s in states):
            break
        time.sleep(0.2)
    assert states == ["completed"] * len(ids)


def assert_recovered_in_place(host: LocalHost, data_dir: Path) -> None:
    """No message is left in the queue, and no worker process had to be restarted."""
    with sqlite3.connect(data_dir / "dtq.sqlite3") as db:
        assert db.execute(JOB_MESSAGES).fetchone()[0] == 0
    assert "restarting it" not in host.log(), "the workers recovered without a restart"


@pytest.fixture
def own_cosmos() -> Iterator[CosmosServer]:
    with running_emulator(CosmosServer()) as server:
        yield server


def test_results_store_outage_mid_run_loses_nothing(
    tmp_path: Path, own_cosmos: CosmosServer
) -> None:
    host = LocalHost(
        data_dir=tmp_path,
        workers=2,
        env={
            "DTQ_RESULT_BACKEND": "cosmos",
            "CosmosDBConnection": own_cosmos.connection_string,
            **OUTAGE_BACKOFF,
        },
    )
    host.start()
    try:
        with Api(host.base_url, timeout=30) as api:
            ids = submit_simulations(api, 12, duration_ms=300, steps=3)
            time.sleep(0.1)
            own_cosmos.stop()  # results cannot be written while it is down
            time.sleep(10)
            health = api.http.get("/healthz")
            assert health.status_code == 503 and not health.json()["checks"]["result_store"]["ok"]
            during = api.http.post(
                "/jobs", json={"job_type": "echo", "payload": {"message": "during"}}
            )
            assert during.status_code == 202, "submitting needs no results store"
            ids.append(during.json()["job_id"])
            assert all(api.get(job_id)["state"] != "completed" for job_id in ids), (
                "no job completes without its result stored"
            )

            own_cosmos.start()  # back, on the same port, empty
            wait_all_completed(api, ids)
            for job_id in ids:
                assert api.http.get(f"/jobs/{job_id}/result").status_code == 200
    finally:
        host.stop()
    assert_recovered_in_place(host, tmp_path)


def test_status_store_outage_mid_run_loses_nothing(tmp_path: Path, azurite: Azurite) -> None:
    proxy = TcpProxy(azurite.port).start()
    table = f"faults{int(time.time() * 1000)}"
    host = LocalHost(
        data_dir=tmp_path,
        workers=2,
        env={
            "DTQ_STATUS_BACKEND": "table",
            "DTQ_STATUS_TABLE": table,
            "TableStorageConnection": azurite.connection_string_via(proxy.port),
            **OUTAGE_BACKOFF,
        },
    )
    host.start()
    try:
        with Api(host.base_url, timeout=30) as api:
            ids = submit_simulations(api, 12, duration_ms=600, steps=6)
            time.sleep(0.3)  # some are running, reporting progress
            proxy.cut()
            refused = api.http.post("/jobs", json={"job_type": "echo", "payload": {"message": "x"}})
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert int(refused.headers["retry-after"]) > 0
            assert api.http.get(f"/jobs/{ids[0]}").status_code == 503
            health = api.http.get("/healthz")
            assert health.status_code == 503 and not health.json()["checks"]["status_store"]["ok"]
            time.sleep(6)  # in-flight attempts fail to write; their messages go back

            proxy.restore()
            wait_all_completed(api, ids)
            for job_id in ids:
                job = api.get(job_id)
                assert job["errors"] == [], "an outage of dtq's own store is not a job failure"
                assert job["attempt"] == 1, "no retry was spent on the outage"
                assert api.http.get(f"/jobs/{job_id}/result").status_code == 200
            listed = api.jobs(limit=100)["items"]
            assert sorted(j["job_id"] for j in listed) == sorted(ids), (
                "the refused job was not stored"
            )
    finally:
        host.stop()
        proxy.cut()
    assert_recovered_in_place(host, tmp_path)
