"""The Overview of a tenant with an API key: its own counts, and none of another
tenant's activity (the shared queues and workers are the operator's, docs/tenants.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import expect
from tests.support.polling import wait_job
from tests.support.processes import create_key, running_host


def test_a_keyed_tenants_overview_shows_its_own_counts_only(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data_dir = Path(tmp_path_factory.mktemp("dtq-ui-tenants"))
    env = {"DTQ_REQUIRE_API_KEYS": "true"}
    acme, globex = (create_key(data_dir, t, env) for t in ("acme", "globex"))
    with running_host(data_dir, env=env) as host:
        base = f"{host.base_url}/api/v1"
        with httpx.Client(base_url=base, timeout=10, headers={"X-API-Key": acme}) as api:
            for priority in ("high", "low"):  # waiting in the shared queues
                body = {"job_type": "simulate", "payload": {"duration_ms": 0}}
                sent = api.post("/jobs", json={**body, "delay_seconds": 600, "priority": priority})
                assert sent.status_code == 202, sent.text
        with httpx.Client(base_url=base, timeout=10, headers={"X-API-Key": globex}) as api:
            job = api.post("/jobs", json={"job_type": "echo", "payload": {"message": "mine"}})
            wait_job(api, job.json()["job_id"], {"completed"})

        context = browser.new_context(base_url=host.base_url)
        context.add_init_script(f"sessionStorage.setItem('dtq-api-key', {json.dumps(globex)})")
        errors: list[str] = []
        try:
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto("/#/overview")
            expect(page.get_by_test_id("card-total-value")).to_have_text("1")
            expect(page.get_by_test_id("card-completed-value")).to_have_text("1")
            expect(page.get_by_test_id("card-scheduled-value")).to_have_text("0")
            by_type = page.get_by_test_id("by-type")
            expect(by_type).to_contain_text("echo")
            expect(by_type).not_to_contain_text("simulate")
            # acme's two waiting messages are in no table of globex's: the queues and the
            # workers are the operator's, and the page says so.
            expect(page.get_by_test_id("queues-table")).to_have_count(0)
            expect(page.get_by_test_id("operator-only")).to_contain_text("operator only")
            expect(page.get_by_test_id("workers-table")).to_have_count(0)
        finally:
            context.close()
    assert errors == [], "the Overview rendered without a script error"
