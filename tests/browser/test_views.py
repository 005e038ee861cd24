"""The UI's views in headless Chromium against the local host: a job's detail, the
dead-letter queue (requeue, purge with confirmation) and the overview."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.browser.conftest import expect
from tests.support.polling import wait_job

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def failed_job(api: httpx.Client, **payload: Any) -> dict[str, Any]:
    """A simulate job that fails for good on its only attempt: it lands in the DLQ."""
    body = {"duration_ms": 10, "steps": 1, "fail_first": 5, **payload}
    response = api.post("/jobs", json={"job_type": "simulate", "payload": body, "max_attempts": 1})
    assert response.status_code == 202, response.text
    return wait_job(api, response.json()["job_id"], {"failed"})


def test_submitting_opens_the_new_job_with_its_options_and_a_readable_result(
    page: Any, api: httpx.Client
) -> None:
    page.goto("/")
    page.get_by_test_id("job-type-select").select_option("echo")
    page.get_by_test_id("field-message").fill("hello from the form")
    page.get_by_test_id("options").locator("summary").click()
    page.get_by_test_id("priority").select_option("high")
    page.get_by_test_id("max-attempts").fill("2")
    page.get_by_test_id("submit-button").click()

    expect(page).to_have_url(re.compile(r"#/jobs/[0-9a-z]{26}$"))
    job_id = page.url.rsplit("/", 1)[1]
    detail = page.get_by_test_id("detail-panel")
    expect(detail).to_be_visible()
    expect(page.get_by_test_id("detail-title")).to_be_focused()
    expect(page.get_by_test_id("detail-state")).to_have_text("completed")
    stored = api.get(f"/jobs/{job_id}").json()
    assert (stored["priority"], stored["max_attempts"]) == ("high", 2), (
        "the options reached the API"
    )
    expect(page.get_by_test_id("detail-trace-id")).to_have_text(stored["trace_id"])
    expect(page.get_by_test_id("detail-fields")).to_contain_text("high")
    # The result is shown as labelled values, not only as JSON.
    result = page.get_by_test_id("detail-result")
    expect(result.locator("dt", has_text="message")).to_be_visible()
    expect(result.locator("dd", has_text="hello from the form")).to_be_visible()
    # Escape closes the detail and gives focus back to the job's row.
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()
    expect(page.locator(f'tr[data-job-id="{job_id}"] a')).to_be_focused()


def test_a_failed_job_shows_each_attempts_error_and_its_dead_letter_reason(
    page: Any, api: httpx.Client
) -> None:
    job = failed_job(api)
    page.goto(f"/#/jobs/{job['job_id']}")
    expect(page.get_by_test_id("detail-state")).to_have_text("failed")
    expect(page.get_by_test_id("detail-dead-letter")).to_contain_text("MaxAttemptsExceeded")
    rows = page.get_by_test_id("detail-error-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("TransientJobError")
    expect(page.get_by_test_id("detail-requeue")).to_be_visible()
    expect(page.get_by_test_id("detail-cancel")).to_be_hidden()


def test_a_job_is_requeued_from_the_dead_letter_queue_and_then_completes(
    page: Any, api: httpx.Client
) -> None:
    # fail_first 1: the first attempt fails (into the DLQ), the requeued one succeeds.
    job = failed_job(api, fail_first=1)
    page.goto("/#/failures")
    row = page.locator(f'[data-testid="dlq-row"][data-job-id="{job["job_id"]}"]')
    expect(row.get_by_test_id("dlq-reason")).to_have_text("MaxAttemptsExceeded")
    expect(row).to_contain_text("simulated transient failure")
    expect(page.get_by_test_id("nav-dlq-count")).not_to_have_text("")
    row.get_by_test_id("dlq-requeue").click()
    expect(row).to_have_count(0)
    expect(page.get_by_test_id("announcer")).to_contain_text("requeued")
    done = wait_job(api, job["job_id"], {"completed"})
    assert done["requeues"] == 1 and done["attempt"] == 2


def test_purging_every_matching_job_asks_first_and_can_be_called_off(
    page: Any, api: httpx.Client
) -> None:
    jobs = [failed_job(api, fail_permanently=True) for _ in range(2)]
    page.goto("/#/failures")
    page.get_by_test_id("dlq-filter-type").select_option("simulate")
    rows = page.get_by_test_id("dlq-row")
    for job in jobs:
        expect(
            page.locator(f'[data-testid="dlq-row"][data-job-id="{job["job_id"]}"]')
        ).to_have_count(1)
    dialog = page.get_by_test_id("confirm-dialog")

    page.get_by_test_id("dlq-purge-all").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("simulate")
    page.get_by_test_id("confirm-cancel").click()
    expect(dialog).to_be_hidden()
    assert all(api.get(f"/jobs/{j['job_id']}").status_code == 200 for j in jobs), (
        "called off: nothing purged"
    )

    page.get_by_test_id("dlq-purge-all").click()
    page.get_by_test_id("confirm-ok").click()
    expect(rows).to_have_count(0)
    expect(page.get_by_test_id("dlq-empty")).to_be_visible()
    assert all(api.get(f"/jobs/{j['job_id']}").status_code == 404 for j in jobs)
    assert api.get("/dlq", params={"job_type": "simulate"}).json()["items"] == []


def test_the_overview_shows_counts_throughput_queues_and_workers(
    page: Any, api: httpx.Client, ui_host: Any
) -> None:
    job = api.post("/jobs", json={"job_type": "echo", "payload": {"message": "overview"}}).json()
    wait_job(api, job["job_id"], {"completed"})
    stats = api.get("/stats").json()
    page.goto("/#/overview")
    expect(page.get_by_test_id("card-total-value")).to_have_text(f"{stats['jobs']['total']:,}")
    expect(page.get_by_test_id("card-completed-value")).to_have_text(
        f"{stats['jobs']['by_state']['completed']:,}"
    )
    chart = page.get_by_test_id("throughput-chart").locator("svg")
    expect(chart).to_have_attribute("data-total", str(stats["completed_last_hour"]))
    expect(chart).to_have_attribute(
        "aria-label", re.compile(r"\d+ jobs completed in the last hour")
    )
    queues = page.get_by_test_id("queues-table")
    for priority in ("high", "normal", "low"):
        expect(queues).to_contain_text(priority)
    workers = page.get_by_test_id("workers-table").locator("tbody tr")
    expect(workers).to_have_count(len(stats["workers"]))
    expect(workers.first).to_contain_text(str(stats["workers"][0]["pid"]))
    # A card leads to the jobs it counts.
    page.get_by_test_id("card-completed").locator("a").click()
    expect(page.get_by_test_id("filter-state")).to_have_value("completed")
    expect(page.get_by_test_id("job-row").first.get_by_test_id("job-state")).to_have_text(
        "completed"
    )


def test_the_overview_says_which_job_types_are_paused(page: Any, api: httpx.Client) -> None:
    """A pause holds every tenant's jobs of its type (docs/pauses.md): the Overview says so,
    with its reason, and stops saying it once resumed."""
    paused = api.post("/pauses", json={"job_type": "weather", "reason": "provider outage"})
    assert paused.status_code in (200, 201), paused.text
    try:
        page.goto("/#/overview")
        pause = page.get_by_test_id("pause")
        expect(pause).to_have_count(1)
        expect(pause).to_contain_text(
            re.compile(r"job type weather \(every tenant's jobs\) since .*provider outage")
        )
    finally:
        assert api.delete("/pauses/job_type/weather").status_code == 200
    page.reload()
    expect(page.get_by_test_id("card-total-value")).to_be_visible()
    expect(page.get_by_test_id("pauses")).to_be_hidden()
