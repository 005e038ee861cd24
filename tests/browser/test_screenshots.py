"""Screenshots of each main view, for the README. They are taken on every run (so the
views render with real data); with DTQ_UPDATE_SCREENSHOTS=1 they are written to
docs/screenshots/, otherwise to a temporary folder.

    DTQ_UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_screenshots.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import expect
from tests.support.polling import wait_job

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    if os.environ.get("DTQ_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        return DOCS
    return tmp_path


def submit(
    api: httpx.Client, job_type: str, payload: dict[str, Any], **options: Any
) -> dict[str, Any]:
    response = api.post("/jobs", json={"job_type": job_type, "payload": payload, **options})
    assert response.status_code == 202, response.text
    return dict(response.json())


def test_screenshots_of_each_view(
    browser: Any, ui_host: Any, api: httpx.Client, folder: Path
) -> None:
    for i, message in enumerate(["hello", "invoice 1042 sent", "nightly report"]):
        wait_job(
            api,
            submit(api, "echo", {"message": message}, priority=["normal", "high", "low"][i])[
                "job_id"
            ],
        )
    finished = submit(api, "simulate", {"duration_ms": 300, "steps": 3})
    wait_job(api, finished["job_id"], {"completed"})
    for payload in (
        {"duration_ms": 10, "fail_first": 9},
        {"duration_ms": 10, "fail_permanently": True},
    ):
        wait_job(api, submit(api, "simulate", payload, max_attempts=2)["job_id"], {"failed"})
    running = submit(api, "simulate", {"duration_ms": 60000, "steps": 100})
    wait_job(api, running["job_id"], lambda job: job["progress"] >= 3, timeout=30)
    submit(api, "echo", {"message": "later"}, delay_seconds=3600)

    shots: list[Path] = []

    def shoot(name: str, page: Any) -> None:
        page.wait_for_timeout(400)
        shots.append(folder / f"{name}.png")
        page.screenshot(path=str(shots[-1]), full_page=True)

    for scheme, size in (
        ("light", {"width": 1280, "height": 820}),
        ("dark", {"width": 1280, "height": 820}),
    ):
        context = browser.new_context(base_url=ui_host.base_url, viewport=size, color_scheme=scheme)
        page = context.new_page()
        try:
            if scheme == "light":
                page.goto("/#/jobs")
                expect(page.locator(f'tr[data-job-id="{running["job_id"]}"]')).to_contain_text(
                    "running"
                )
                shoot("jobs", page)
                page.goto(f"/#/jobs/{finished['job_id']}")
                expect(page.get_by_test_id("detail-state")).to_have_text("completed")
                page.get_by_test_id("detail-panel").scroll_into_view_if_needed()
                shots.append(folder / "detail.png")
                page.get_by_test_id("detail-panel").screenshot(path=str(shots[-1]))
                page.goto("/#/failures")
                expect(page.get_by_test_id("dlq-row").first).to_be_visible()
                shoot("failures", page)
                page.goto("/#/overview")
                expect(page.get_by_test_id("workers-table")).to_be_visible()
                shoot("overview", page)
            else:
                page.goto("/#/overview")
                expect(page.get_by_test_id("workers-table")).to_be_visible()
                shoot("overview-dark", page)
        finally:
            context.close()
    phone = browser.new_context(
        base_url=ui_host.base_url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    try:
        page = phone.new_page()
        page.goto("/#/jobs")
        expect(page.get_by_test_id("job-row").first).to_be_visible()
        shots.append(folder / "phone.png")
        page.screenshot(path=str(shots[-1]))
    finally:
        phone.close()
    api.delete(f"/jobs/{running['job_id']}")
    assert all(shot.stat().st_size > 10_000 for shot in shots), "every view rendered something"
