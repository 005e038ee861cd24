"""End to end on a local host with API keys required: /api/v1/stats counts only the
caller's jobs, and the deployment's own figures (queue depths, the queues' dead-lettered
messages, worker processes, /api/metrics) need the operator credential
(DTQ_OPERATOR_KEY_IDS). docs/tenants.md and docs/observability.md say why."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import BACKENDS, backend_env
from tests.support.api import Api
from tests.support.processes import LocalHost, create_key, running_host

pytestmark = pytest.mark.e2e


@dataclass
class Deployment:
    host: LocalHost
    acme: Api
    globex: Api
    operator: Api
    anonymous: Api

    def metrics(self, client: Api) -> httpx.Response:
        return client.http.get(f"{self.host.base_url}/api/metrics")


@pytest.fixture(scope="module", params=BACKENDS)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    data_dir = Path(tmp_path_factory.mktemp("dtq-totals"))
    env = {
        **backend_env(request.param, request),
        "DTQ_REQUIRE_API_KEYS": "true",
        "DTQ_TENANT_SUBMISSIONS_PER_MINUTE": "0",  # this test counts, it does not throttle
    }
    acme, globex, ops = (create_key(data_dir, t, env) for t in ("acme", "globex", "ops"))
    env["DTQ_OPERATOR_KEY_IDS"] = ops.split("_")[1]  # dtq_<key id>_<secret>
    with running_host(data_dir, workers=2, env=env, background_stop=True) as host:
        clients = [
            Api(host.base_url, headers={"X-API-Key": token}) for token in (acme, globex, ops)
        ]
        clients.append(Api(host.base_url))
        try:
            yield Deployment(host, *clients)
        finally:
            for client in clients:
                client.close()


def figures(stats: dict[str, Any]) -> dict[str, Any]:
    """A stats body without its time stamps."""
    return {k: v for k, v in stats.items() if k not in ("at", "completed_per_minute")}


def test_each_tenant_counts_only_its_own_jobs(deployment: Deployment) -> None:
    acme, globex = deployment.acme, deployment.globex
    # acme: 2 echo completed, 1 simulate failed (its DLQ), 2 echo waiting in two queues.
    finished = [acme.submit("echo", {"message": str(i)})["job_id"] for i in range(2)]
    doomed = {"duration_ms": 0, "fail_permanently": True}
    finished.append(acme.submit("simulate", doomed)["job_id"])
    acme.submit("echo", {"message": "later"}, delay_seconds=600)
    acme.submit("echo", {"message": "later"}, delay_seconds=600, priority="low")
    # globex: 1 simulate completed, 3 simulate waiting in the high queue.
    finished.append(globex.submit("simulate", {"duration_ms": 0})["job_id"])
    for _ in range(3):
        globex.submit("simulate", {"duration_ms": 0}, delay_seconds=600, priority="high")
    for job_id in finished[:3]:
        acme.wait(job_id)
    globex.wait(finished[3])

    zero = {"queued": 0, "running": 0, "retrying": 0, "cancelled": 0}
    assert figures(acme.stats()) == {
        "scope": "tenant",
        "jobs": {
            "total": 5,
            "by_state": {**zero, "completed": 2, "failed": 1, "scheduled": 2},
            "by_type": {"echo": {"completed": 2, "scheduled": 2}, "simulate": {"failed": 1}},
        },
        "completed_last_hour": 2,
        "dead_letter": {"jobs": 1},
        "queues": {},
        "pauses": [],
        "truncated": False,
    }
    assert figures(globex.stats()) == {
        "scope": "tenant",
        "jobs": {
            "total": 4,
            "by_state": {**zero, "completed": 1, "failed": 0, "scheduled": 3},
            "by_type": {"simulate": {"completed": 1, "scheduled": 3}},
        },
        "completed_last_hour": 1,
        "dead_letter": {"jobs": 0},
        "queues": {},
        "pauses": [],
        "truncated": False,
    }

    # The operator sees the shared queues (everyone's messages) and the workers; its own
    # tenant has no job.
    ops = deployment.operator.stats()
    assert ops["scope"] == "operator"
    assert ops["jobs"]["total"] == 0
    scheduled = {p: q["scheduled"] for p, q in ops["queues"].items()}
    assert scheduled == {"high": 3, "normal": 1, "low": 1}
    assert ops["dead_letter"] == {"jobs": 0, "messages": 0}
    assert "workers" in ops


def test_metrics_need_the_operator_credential(deployment: Deployment) -> None:
    deployment.acme.submit("echo", {"message": "counted"})
    deployment.globex.submit("simulate", {"duration_ms": 0})

    anonymous = deployment.metrics(deployment.anonymous)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    for tenant in (deployment.acme, deployment.globex):
        refused = deployment.metrics(tenant)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "operator" in refused.json()["detail"]
        assert "dtq_jobs_submitted" not in refused.text

    scraped = deployment.metrics(deployment.operator)
    assert scraped.status_code == 200, scraped.text
    submitted = {
        sample.labels["job_type"]: sample.value
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
        if sample.name == "dtq_jobs_submitted_total"
    }
    assert submitted.get("echo", 0) >= 1 and submitted.get("simulate", 0) >= 1, submitted
