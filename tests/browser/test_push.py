"""The web UI on the local host's own SignalR hub (dtq/host/signalr.py): the vendored
``@microsoft/signalr`` client connects through ``POST /api/negotiate`` and the page
shows jobs it is pushed while its polls bring nothing; when negotiate fails it polls."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.browser.conftest import expect


def polls_bring_nothing(page: Any) -> list[str]:
    """Answer the job list's polls "no change", so only push can bring a job in; the
    URLs of the polls answered."""
    answered: list[str] = []

    def unchanged(route: Any) -> None:
        answered.append(route.request.url)
        if route.request.headers.get("if-none-match"):
            route.fulfill(status=304, headers={"ETag": '"empty"'})
        else:
            route.fulfill(json={"items": [], "next_cursor": None}, headers={"ETag": '"empty"'})

    page.route(re.compile(r".*/api/v1/jobs\?.*"), unchanged)
    return answered


def submit(api: httpx.Client, payload: dict[str, Any]) -> str:
    response = api.post("/jobs", json={"job_type": "simulate", "payload": payload})
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def test_the_local_hosts_hub_pushes_a_jobs_progress_with_polling_off(
    page: Any, api: httpx.Client
) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    polls_bring_nothing(page)
    page.goto("/")
    expect(page.get_by_test_id("live-mode")).to_contain_text("pushed (SignalR)")
    assert any("/signalr/client/?hub=dtq" in url for url in sockets), sockets

    job_id = submit(api, {"duration_ms": 1500, "steps": 3})
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    expect(row.get_by_test_id("job-state")).to_have_text(re.compile("running|completed"))
    expect(row.get_by_test_id("job-state")).to_have_text("completed")
    expect(row.get_by_test_id("job-progress")).to_have_attribute("aria-valuenow", "100")


def test_a_failed_negotiate_falls_back_to_polling(page: Any, api: httpx.Client) -> None:
    page.route("**/api/negotiate", lambda route: route.fulfill(status=503))
    page.goto("/")
    expect(page.get_by_test_id("health")).to_have_text("API reachable")
    expect(page.get_by_test_id("live-mode")).to_contain_text("polling")
    job_id = submit(api, {"duration_ms": 0})
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    expect(row.get_by_test_id("job-state")).to_have_text("completed")


def test_a_log_line_alone_reaches_the_open_detail_by_push(page: Any, api: httpx.Client) -> None:
    """A line logged while a job runs is stored by a write of its own (no progress, no
    new state, the same ``updated_at``: shared/job_logs.py); its pushed event alone,
    polls answered "no change", brings it to the detail's Log region."""
    polls_bring_nothing(page)
    job_polls: list[str] = []

    def job_unchanged(route: Any) -> None:
        # The detail's reads of the job go through until it holds an ETag (a read may be
        # restarted by a pushed event before its answer lands); its polls bring nothing.
        job_polls.append(route.request.url)
        if not route.request.headers.get("if-none-match"):
            route.continue_()
        else:
            route.fulfill(
                status=304, headers={"ETag": route.request.headers.get("if-none-match", '"x"')}
            )

    logs_answers: list[int] = []
    page.on(
        "response",
        lambda r: (
            logs_answers.append(len(r.json()["lines"]))
            if r.url.endswith("/logs") and r.status == 200
            else None
        ),
    )
    page.goto("/")
    expect(page.get_by_test_id("live-mode")).to_contain_text("pushed (SignalR)")
    # Scheduled: the detail is open (and has read the job) before it runs, with room for a
    # busy machine (the page may take seconds to open it).
    response = api.post(
        "/jobs",
        json={"job_type": "simulate", "payload": {"duration_ms": 30_000}, "delay_seconds": 6},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    try:
        page.route(re.compile(rf".*/api/v1/jobs/{job_id}$"), job_unchanged)
        page.evaluate("id => { location.hash = `#/jobs/${id}`; }", job_id)
        expect(page.get_by_test_id("detail-state")).to_have_text("scheduled", timeout=6_000)
        expect(page.get_by_test_id("detail-state")).to_have_text("running", timeout=15_000)
        line = page.get_by_test_id("detail-log-line").filter(has_text="1 step(s) of 30000 ms")
        expect(line).to_have_count(1, timeout=10_000)
        # It came later than the job's start: the first log read (on "running") had none.
        assert logs_answers[0] == 0, logs_answers
        assert api.get(f"/jobs/{job_id}").json()["state"] == "running"
    finally:
        api.delete(f"/jobs/{job_id}")
