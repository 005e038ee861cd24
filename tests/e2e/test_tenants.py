"""End to end on the local host with API keys required: every endpoint is scoped to the
caller's tenant (another tenant's job is 404, never 403), keys come from `dtq keys`, and
requests without a valid key are 401."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import BACKENDS, backend_env
from tests.support.api import Api
from tests.support.processes import ROOT, LocalHost, create_key, run_dtq, running_host

pytestmark = pytest.mark.e2e


@dataclass
class Tenants:
    host: LocalHost
    a: Api
    b: Api
    anonymous: Api
    c: Api
    data_dir: Path
    env: dict[str, str]

    def dtq(self, *args: str) -> str:
        return run_dtq(self.data_dir, *args, env=self.env)


@pytest.fixture(scope="module", params=BACKENDS)
def tenants(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tenants]:
    data_dir = Path(tmp_path_factory.mktemp("dtq-tenants"))
    env = {**backend_env(request.param, request), "DTQ_REQUIRE_API_KEYS": "true"}

    token_a, token_b, token_c = (
        create_key(data_dir, t, env) for t in ("acme", "globex", "initech")
    )
    with running_host(data_dir, env=env, background_stop=True) as host:
        clients = [
            Api(host.base_url, token_a),  # as Authorization: Bearer
            Api(host.base_url, headers={"X-API-Key": token_b}),
            Api(host.base_url),
            Api(host.base_url, headers={"X-API-Key": token_c}),
        ]
        try:
            yield Tenants(host, *clients, data_dir=data_dir, env=env)
        finally:
            for client in clients:
                client.close()


def test_no_tenant_can_reach_another_tenants_jobs(tenants: Tenants) -> None:
    a, b = tenants.a, tenants.b
    done = a.submit("simulate", {"duration_ms": 0})["job_id"]
    failed = a.submit("simulate", {"duration_ms": 0, "fail_permanently": True})["job_id"]
    assert a.wait(done)["state"] == "completed"
    assert a.wait(failed)["state"] == "failed"

    for method, path in [
        ("GET", f"/jobs/{done}"),
        ("GET", f"/jobs/{done}/result"),
        ("DELETE", f"/jobs/{done}"),
        ("POST", f"/dlq/{failed}/requeue"),
        ("DELETE", f"/dlq/{failed}"),
    ]:
        response = b.http.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")

    assert b.jobs()["items"] == []
    assert b.dead_letters()["items"] == []
    assert b.requeue_matching()["requeued"] == 0
    assert b.purge_matching()["purged"] == 0
    assert b.stats()["jobs"]["total"] == 0
    # ... and all of it is still there for its own tenant.
    assert {j["job_id"] for j in a.jobs()["items"]} >= {done, failed}
    assert [j["job_id"] for j in a.dead_letters()["items"]] == [failed]
    assert a.http.get(f"/jobs/{done}/result").status_code == 200
    assert a.stats()["jobs"]["total"] >= 2


def test_idempotency_keys_belong_to_the_tenant(tenants: Tenants) -> None:
    body = {"job_type": "echo", "payload": {"message": "same"}}
    first = tenants.a.http.post("/jobs", json=body, headers={"Idempotency-Key": "k1"})
    other = tenants.b.http.post("/jobs", json=body, headers={"Idempotency-Key": "k1"})
    assert (first.status_code, other.status_code) == (202, 202)
    assert first.json()["job_id"] != other.json()["job_id"]
    assert first.json()["tenant_id"] == "acme" and other.json()["tenant_id"] == "globex"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/jobs"),
        ("POST", "/jobs:batch"),
        ("GET", "/jobs"),
        ("GET", "/jobs/01jx0000000000000000000000"),
        ("DELETE", "/jobs/01jx0000000000000000000000"),
        ("GET", "/jobs/01jx0000000000000000000000/result"),
        ("GET", "/dlq"),
        ("POST", "/dlq/requeue"),
        ("POST", "/dlq/purge"),
        ("GET", "/dlq/messages"),
        ("POST", "/dlq/01jx0000000000000000000000/requeue"),
        ("DELETE", "/dlq/01jx0000000000000000000000"),
        ("GET", "/stats"),
    ],
)
def test_every_tenant_endpoint_needs_a_key(tenants: Tenants, method: str, path: str) -> None:
    response = tenants.anonymous.http.request(method, path, json={})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith("application/problem+json")
    forged = tenants.anonymous.http.request(
        method, path, json={}, headers={"X-API-Key": "dtq_000000000000_" + "x" * 43}
    )
    assert forged.status_code == 401


def test_public_endpoints_need_no_key(tenants: Tenants) -> None:
    for path in ("/healthz", "/job-types", "/openapi.json"):
        assert tenants.anonymous.http.get(path).status_code == 200, path


def test_a_revoked_key_is_refused(tenants: Tenants) -> None:
    created = json.loads(tenants.dtq("keys", "create", "--tenant", "acme", "--json"))
    tenants.dtq("keys", "revoke", created["key_id"])
    response = tenants.anonymous.http.get("/jobs", headers={"X-API-Key": created["token"]})
    assert response.status_code == 401 and "revoked" in response.json()["detail"]
    listed = json.loads(tenants.dtq("keys", "list", "--tenant", "acme", "--json"))
    assert {k["key_id"]: bool(k["revoked_at"]) for k in listed}[created["key_id"]] is True
    assert all("token" not in k and "secret_hash" not in k for k in listed)


def test_serve_refuses_a_remote_address_without_keys(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dtq.cli",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "1",
            "--data-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DTQ_REQUIRE_API_KEYS": "false"},
    )
    assert done.returncode == 2 and "without API keys" in done.stderr


def test_a_tenant_over_its_submissions_per_minute_gets_429(tenants: Tenants) -> None:
    c = tenants.c  # tenants with keys: 10 submissions a minute by default
    body = {"job_type": "echo", "payload": {"message": "m"}}
    started = time.time()
    batch = c.http.post("/jobs:batch", json={"jobs": [body] * 4})
    assert batch.status_code == 200 and batch.json()["accepted"] == 4
    accepted, over = 4, None
    for _ in range(25):
        response = c.http.post("/jobs", json=body)
        if response.status_code != 202:
            over = response
            break
        accepted += 1
    assert over is not None and over.status_code == 429, over and over.text
    if int(started // 60) == int(time.time() // 60):  # the counters use minute windows
        assert accepted == 10
    else:
        assert 10 <= accepted <= 20
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert over.headers["content-type"].startswith("application/problem+json")
    one_more = c.http.post("/jobs:batch", json={"jobs": [body]})
    if int(started // 60) == int(time.time() // 60):
        assert one_more.status_code == 429
        assert len(c.http.get("/jobs").json()["items"]) == accepted, "nothing over the limit stored"
    assert tenants.a.http.post("/jobs", json=body).status_code == 202, "other tenants go on"
