"""A job's log lines in the UI's job detail, in headless Chromium against the local host:
a labelled log region, lines shown while the job runs and added as they come."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.browser.conftest import expect

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_the_detail_shows_the_log_lines_as_they_come(page: Any, api: httpx.Client) -> None:
    response = api.post(
        "/jobs", json={"job_type": "simulate", "payload": {"duration_ms": 6000, "steps": 4}}
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    page.goto(f"/#/jobs/{job_id}")

    log = page.get_by_role("log", name="Log")
    expect(log).to_be_visible()
    lines = page.get_by_test_id("detail-log-line")
    # The first step's line shows while the job still runs.
    expect(lines.filter(has_text="step 1 of 4 done")).to_have_count(1, timeout=10_000)
    assert api.get(f"/jobs/{job_id}").json()["state"] == "running"
    expect(page.get_by_test_id("detail-state")).to_have_text("completed", timeout=20_000)
    expect(lines).to_have_count(5)
    expect(lines.last).to_have_text(re.compile(r"^\d\d:\d\d:\d\d\.\d{3} step 4 of 4 done$"))
    expect(lines.first.locator("time")).to_have_attribute("datetime", re.compile("Z$"))
