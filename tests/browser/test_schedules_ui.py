"""The Schedules view in headless Chromium against the local host: create a schedule
from the schema-driven form, see it listed with its next run, pause and resume it, its
next fire times and the jobs it made, a server field error next to its field, delete it
after a confirmation."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import expect
from tests.support.processes import LocalHost, running_host

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def ui_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    """The host's schedules timer every 2 s (not every minute), so a due tick makes its
    job while the test watches."""
    env = {"DTQ_SCHEDULES_TIMER_SCHEDULE": "*/2 * * * * *"}
    with running_host(
        Path(tmp_path_factory.mktemp("dtq-ui-schedules")), env=env, background_stop=True
    ) as host:
        yield host


def row_of(page: Any, name: str) -> Any:
    return page.get_by_test_id("schedule-row").filter(has_text=name)


def test_a_schedule_is_created_listed_paused_resumed_and_deleted(
    page: Any, api: httpx.Client
) -> None:
    page.goto("/")
    page.get_by_test_id("nav-schedules").click()
    expect(page.locator("#schedules-title")).to_be_focused()
    page.get_by_test_id("schedule-name").fill("nightly echo")
    page.get_by_test_id("schedule-by-interval").check()
    page.get_by_test_id("schedule-interval").fill("60")
    page.get_by_test_id("schedule-job-type").select_option("echo")
    # The job template's payload comes from the job type's schema, as in the Jobs form.
    page.get_by_test_id("schedule-field-message").fill("from a schedule")
    page.get_by_test_id("schedule-save").click()

    # The new schedule opens, with its next fire times, a minute apart.
    expect(page).to_have_url(re.compile(r"#/schedules/[^/]+$"))
    expect(page.get_by_test_id("schedule-detail-title")).to_have_text("Schedule nightly echo")
    expect(page.get_by_test_id("schedule-detail-title")).to_be_focused()
    fire_times = page.get_by_test_id("schedule-fire-time")
    expect(fire_times).to_have_count(5)
    stamps = [
        datetime.fromisoformat(t.get_attribute("datetime") or "")
        for t in fire_times.locator("time").all()
    ]
    assert [b - a for a, b in itertools.pairwise(stamps)] == [timedelta(seconds=60)] * 4

    schedule_id = page.url.rsplit("/", 1)[1]
    stored = api.get(f"/schedules/{schedule_id}").json()
    assert stored["template"] == {
        "job_type": "echo",
        "payload": {"message": "from a schedule"},
        "priority": "normal",
        "max_attempts": None,
        "timeout_seconds": None,
    }
    assert stored["interval_seconds"] == 60

    # Listed with its next run.
    row = row_of(page, "nightly echo")
    expect(row).to_contain_text("every 1 min")
    expect(row.get_by_test_id("schedule-state")).to_have_text("active")
    next_run = row.get_by_test_id("schedule-next-run").locator("time")
    expect(next_run).to_have_attribute("datetime", stored["next_fire_at"])

    # Pause: the state shows paused, no next run; the API agrees.
    row.get_by_test_id("schedule-pause").click()
    expect(row.get_by_test_id("schedule-state")).to_have_text("paused")
    expect(row.get_by_test_id("schedule-next-run")).to_contain_text("paused")
    expect(page.get_by_test_id("announcer")).to_contain_text("paused")
    expect(row.get_by_test_id("schedule-resume")).to_be_focused()
    assert api.get(f"/schedules/{schedule_id}").json()["paused"] is True
    expect(page.get_by_test_id("schedule-detail-state")).to_have_text("paused")

    # Resume: active again, with a next run.
    row.get_by_test_id("schedule-resume").click()
    expect(row.get_by_test_id("schedule-state")).to_have_text("active")
    expect(row.get_by_test_id("schedule-next-run").locator("time")).to_have_count(1)
    assert api.get(f"/schedules/{schedule_id}").json()["paused"] is False

    # Delete asks first; calling it off keeps the schedule.
    row.get_by_test_id("schedule-delete").click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("nightly echo")
    page.get_by_test_id("confirm-cancel").click()
    expect(dialog).to_be_hidden()
    expect(row).to_have_count(1)
    assert api.get(f"/schedules/{schedule_id}").status_code == 200
    row.get_by_test_id("schedule-delete").click()
    page.get_by_test_id("confirm-ok").click()
    expect(row).to_have_count(0)
    expect(page.get_by_test_id("announcer")).to_contain_text("deleted")
    assert api.get(f"/schedules/{schedule_id}").status_code == 404


def test_a_bad_cron_shows_the_servers_error_next_to_its_field(page: Any, api: httpx.Client) -> None:
    page.goto("/#/schedules")
    page.get_by_test_id("schedule-name").fill("bad cron")
    cron = page.get_by_test_id("schedule-cron")
    cron.fill("61 * * * *")
    page.get_by_test_id("schedule-job-type").select_option("echo")
    page.get_by_test_id("schedule-field-message").fill("never")
    page.get_by_test_id("schedule-save").click()
    error = page.locator("#serr-cron")
    expect(error).not_to_be_empty()
    expect(cron).to_have_attribute("aria-invalid", "true")
    expect(cron).to_be_focused()
    expect(page.get_by_test_id("schedule-form-error")).to_contain_text("Not saved")
    assert all(s["name"] != "bad cron" for s in api.get("/schedules").json()["items"])

    # A payload error from the job type's schema lands next to its payload field.
    cron.fill("*/5 * * * *")
    page.get_by_test_id("schedule-job-type").select_option("simulate")
    page.get_by_test_id("schedule-field-duration_ms").fill("100")
    steps = page.get_by_test_id("schedule-field-steps")
    steps.fill("0")
    page.get_by_test_id("schedule-save").click()
    expect(page.locator('[id="serr-template.payload.steps"]')).to_contain_text(
        re.compile("greater than or equal to 1", re.I)
    )
    expect(steps).to_have_attribute("aria-invalid", "true")
    expect(error).to_be_empty()


def test_a_schedules_detail_links_to_the_jobs_it_made(page: Any, api: httpx.Client) -> None:
    """An interval schedule that started 57 s ago is due in about 3 s; the host's timer
    (every 2 s here) makes its job, which the detail links to."""
    start = datetime.now(UTC) - timedelta(seconds=57)
    created = api.post(
        "/schedules",
        json={
            "name": "made a job",
            "interval_seconds": 60,
            "start_at": start.isoformat(),
            "template": {"job_type": "echo", "payload": {"message": "tick"}},
        },
    )
    assert created.status_code == 201, created.text
    schedule_id = created.json()["schedule_id"]
    try:
        page.goto(f"/#/schedules/{schedule_id}")
        expect(page.get_by_test_id("schedule-detail-title")).to_have_text("Schedule made a job")
        link = page.get_by_test_id("schedule-job-link").first
        expect(link).to_be_visible(timeout=20_000)
        expect(page.get_by_test_id("schedule-job-row").first).to_contain_text("submitted")
        job_id = api.get(f"/schedules/{schedule_id}").json()["jobs"][0]["job_id"]
        expect(link).to_have_attribute("href", f"#/jobs/{job_id}")
        expect(
            row_of(page, "made a job").get_by_test_id("schedule-last-run").locator("time")
        ).to_have_count(1)
        link.click()
        expect(page.get_by_test_id("detail-title")).to_be_focused()
        expect(page.get_by_test_id("detail-state")).to_have_text("completed")
    finally:
        api.delete(f"/schedules/{schedule_id}")


def test_a_schedule_can_be_edited_with_the_same_form(page: Any, api: httpx.Client) -> None:
    created = api.post(
        "/schedules",
        json={
            "name": "to edit",
            "cron": "0 9 * * *",
            "timezone": "Europe/London",
            "template": {"job_type": "echo", "payload": {"message": "before"}},
        },
    ).json()
    try:
        page.goto(f"/#/schedules/{created['schedule_id']}")
        expect(page.get_by_test_id("schedule-detail-title")).to_have_text("Schedule to edit")
        page.get_by_test_id("schedule-detail-edit").click()
        expect(page.get_by_test_id("schedule-name")).to_be_focused()
        expect(page.get_by_test_id("schedule-cron")).to_have_value("0 9 * * *")
        expect(page.get_by_test_id("schedule-timezone")).to_have_value("Europe/London")
        expect(page.get_by_test_id("schedule-field-message")).to_have_value("before")
        page.get_by_test_id("schedule-cron").fill("30 9 * * *")
        page.get_by_test_id("schedule-field-message").fill("after")
        page.get_by_test_id("schedule-save").click()
        expect(page.get_by_test_id("announcer")).to_contain_text("saved")
        stored = api.get(f"/schedules/{created['schedule_id']}").json()
        assert stored["cron"] == "30 9 * * *"
        assert stored["template"]["payload"] == {"message": "after"}
        expect(page.get_by_test_id("schedule-save")).to_have_text("Create schedule")
        # The detail keeps focus; Escape closes it, and focus goes back to the row.
        expect(page.get_by_test_id("schedule-detail-title")).to_be_focused()
        page.keyboard.press("Escape")
        expect(page.get_by_test_id("schedule-detail")).to_be_hidden()
        expect(row_of(page, "to edit").get_by_test_id("schedule-link")).to_be_focused()
    finally:
        api.delete(f"/schedules/{created['schedule_id']}")
