"""The web UI in headless Chromium against the local host."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.browser.conftest import expect

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def submit_simulate(page: Any, duration_ms: int, steps: int) -> Any:
    """Fill the generated form for a simulate job, submit it; the new job's row."""
    page.goto("/")
    page.get_by_test_id("job-type-select").select_option("simulate")
    page.get_by_test_id("field-duration_ms").fill(str(duration_ms))
    page.get_by_test_id("field-steps").fill(str(steps))
    before = page.get_by_test_id("job-row").count()
    page.get_by_test_id("submit-button").click()
    expect(page.get_by_test_id("job-row")).to_have_count(before + 1)
    return page.get_by_test_id("job-row").first


def test_a_job_submitted_through_the_form_shows_its_progress_to_the_end(page: Any) -> None:
    row = submit_simulate(page, duration_ms=2500, steps=5)
    progress = row.get_by_test_id("job-progress")
    seen: set[str] = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        value = progress.get_attribute("aria-valuenow")
        seen.add(value or "")
        if value == "100":
            break
        time.sleep(0.1)
    expect(progress).to_have_attribute("aria-valuenow", "100")
    expect(progress).to_have_attribute("role", "progressbar")
    expect(row).to_contain_text("completed", timeout=10_000)
    steps_seen = seen & {"20", "40", "60", "80"}
    assert steps_seen, f"the bar moved through the steps live, not only at the end: {seen}"


def test_a_bad_value_shows_the_servers_field_error(page: Any) -> None:
    page.goto("/")
    page.get_by_test_id("job-type-select").select_option("simulate")
    page.get_by_test_id("field-duration_ms").fill("100")
    steps = page.get_by_test_id("field-steps")
    steps.fill("0")
    page.get_by_test_id("submit-button").click()
    error = page.locator('[id="err-payload.steps"]')
    expect(error).to_contain_text(re.compile("greater than or equal to 1", re.I))
    expect(steps).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("form-error")).to_contain_text("Not submitted")


def test_a_running_job_can_be_cancelled_from_its_row(page: Any) -> None:
    row = submit_simulate(page, duration_ms=30000, steps=300)
    expect(row).to_contain_text("running", timeout=10_000)
    row.get_by_test_id("job-cancel").click()
    expect(row).to_contain_text("cancelled", timeout=10_000)
    value = int(row.get_by_test_id("job-progress").get_attribute("aria-valuenow") or "0")
    assert value < 100


def test_the_page_makes_no_request_beyond_the_local_host(page: Any, ui_host: Any) -> None:
    submit_simulate(page, duration_ms=100, steps=1)
    page.wait_for_timeout(1500)  # a few polls
    assert page.requests, "the page loaded something"
    outside = [url for url in page.requests if not url.startswith(ui_host.base_url)]
    assert outside == [], f"requests left the local host: {outside}"
