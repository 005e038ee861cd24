"""End to end on the local host: ``dtq pause --type echo`` holds echo jobs (no attempt
spent, nothing lost, visible in the jobs' stage and in the stats), ``dtq resume`` lets
every one of them run once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import BACKENDS, backend_env
from tests.e2e.test_cli import dtq
from tests.support.api import Api
from tests.support.processes import LocalHost

pytestmark = pytest.mark.e2e

FAST = {"DTQ_PAUSE_RECHECK_SECONDS": "0.3", "DTQ_PAUSE_CACHE_SECONDS": "0.2"}


@pytest.fixture(params=BACKENDS)
def pause_host(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LocalHost]:
    """``dtq serve`` with short re-checks, on the embedded backend and on the Azure
    adapters (the held job's stage written to Table storage)."""
    env = {**backend_env(request.param, request), **FAST}
    host = LocalHost(data_dir=tmp_path, env=env).start()
    try:
        yield host
    finally:
        host.stop()


def test_paused_echo_jobs_wait_unspent_then_all_run_once_resumed(pause_host: LocalHost) -> None:
    paused = dtq(pause_host, "pause", "--type", "echo", "--reason", "e2e", "--json")
    assert paused.returncode == 0, paused.stderr
    assert json.loads(paused.stdout)["value"] == "echo"
    time.sleep(0.5)  # past the workers' marker cache
    with Api(pause_host.base_url) as api:
        ids = [api.submit("echo", {"message": str(i)})["job_id"] for i in range(3)]
        other = api.submit("simulate", {"duration_ms": 0})["job_id"]
        assert api.wait(other)["state"] == "completed", "another type is not held"
        deadline = time.monotonic() + 3  # several re-checks: each delivery is held again
        while time.monotonic() < deadline:
            for job_id in ids:
                job = api.get(job_id)
                assert (job["state"], job["attempt"]) == ("queued", 0), job
            time.sleep(0.2)
        assert {api.get(j)["stage"] for j in ids} == {"paused"}
        stats = api.stats()
        assert [(p["kind"], p["value"]) for p in stats["pauses"]] == [("job_type", "echo")]
        assert stats["jobs"]["by_type"]["echo"] == {"queued": 3}
        listed = dtq(pause_host, "pauses")
        assert listed.returncode == 0 and "type echo" in listed.stdout and "(e2e)" in listed.stdout

        resumed = dtq(pause_host, "resume", "--type", "echo")
        assert resumed.returncode == 0, resumed.stderr
        assert "resumed: type echo" in resumed.stdout
        for job_id in ids:
            done = api.wait(job_id, timeout=15)
            assert (done["state"], done["attempt"], done["error"]) == ("completed", 1, None)
        assert api.stats()["pauses"] == []
        assert "(nothing is paused)" in dtq(pause_host, "pauses").stdout
