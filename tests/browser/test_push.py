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
