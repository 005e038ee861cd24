"""Accessibility, small screens, both colour schemes, and live push: the UI's quality
bar, checked in headless Chromium against the local host."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import expect
from tests.support.polling import wait_job
from tests.support.processes import create_key, running_host

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

VIEWS = ["#/jobs", "#/failures", "#/schedules", "#/overview"]

HERE = Path(__file__).parent
#: Page functions (JavaScript) run by page.evaluate.
UNLABELLED = (HERE / "unlabelled.js").read_text()
COLOURS = (HERE / "colours.js").read_text()


def _luminance(rgb: str) -> float:
    channels = [int(c) / 255 for c in re.findall(r"\d+", rgb)[:3]]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str) -> float:
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.fixture
def scene(api: httpx.Client) -> None:
    """Something in every view: a completed job, a failed one (the DLQ), a running one."""
    done = api.post("/jobs", json={"job_type": "echo", "payload": {"message": "scene"}}).json()
    failed = api.post(
        "/jobs",
        json={
            "job_type": "simulate",
            "payload": {"duration_ms": 10, "fail_permanently": True},
            "max_attempts": 1,
        },
    ).json()
    for job in (done, failed):
        wait_job(api, job["job_id"])


def test_every_control_has_a_label_in_every_view(page: Any, scene: None) -> None:
    for view in VIEWS:
        page.goto(f"/{view}")
        page.wait_for_timeout(700)
        assert page.evaluate(UNLABELLED) == [], f"unlabelled controls in {view}"


def test_a_job_can_be_submitted_and_opened_by_keyboard_alone(page: Any) -> None:
    page.goto("/")
    page.get_by_test_id("job-type-select").focus()
    page.keyboard.press("Home")  # the first type...
    while page.get_by_test_id("job-type-select").input_value() != "echo":
        page.keyboard.press("ArrowDown")  # ...then down to echo
    page.keyboard.press("Tab")
    expect(page.get_by_test_id("field-message")).to_be_focused()
    page.keyboard.type("typed, not clicked")
    page.keyboard.press("Enter")  # submits the form
    expect(page.get_by_test_id("detail-title")).to_be_focused()
    expect(page.get_by_test_id("detail-state")).to_have_text("completed")
    job_id = page.url.rsplit("/", 1)[1]
    expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_be_visible()
    page.keyboard.press("Escape")
    # Focus goes back to the job's row (once the hash change is handled).
    expect(page.locator(f'tr[data-job-id="{job_id}"] a')).to_be_focused()
    expect(page.get_by_test_id("detail-panel")).to_be_hidden()


def test_phone_width_needs_no_sideways_scrolling(browser: Any, ui_host: Any, scene: None) -> None:
    context = browser.new_context(
        base_url=ui_host.base_url, viewport={"width": 360, "height": 740}, is_mobile=True
    )
    try:
        page = context.new_page()
        for view in VIEWS:
            page.goto(f"/{view}")
            page.wait_for_timeout(700)
            widths = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert widths[0] <= widths[1], f"{view} is {widths[0]}px wide on a {widths[1]}px screen"
        # The jobs table turns into labelled cards.
        page.goto("/#/jobs")
        cell = page.get_by_test_id("job-row").first.locator("td[data-label='State']")
        assert (
            page.evaluate("(e) => getComputedStyle(e, '::before').content", cell.element_handle())
            == '"State"'
        )
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_is_readable_in_light_and_dark_schemes(
    browser: Any, ui_host: Any, scene: None, scheme: str
) -> None:
    context = browser.new_context(base_url=ui_host.base_url, color_scheme=scheme)
    try:
        page = context.new_page()
        body = None
        for view in VIEWS:
            page.goto(f"/{view}")
            page.wait_for_timeout(700)
            body = page.evaluate("getComputedStyle(document.body).backgroundColor")
            samples = page.evaluate(COLOURS)
            assert len(samples) > 10, f"{view}: text to check"
            poor = [
                (text, fg, bg, round(contrast(fg, bg), 2))
                for fg, bg, text in samples
                if contrast(fg, bg) < 4.5  # WCAG AA for normal text
            ]
            assert poor == [], f"{scheme} {view}: too little contrast: {poor[:5]}"
        assert body is not None
        dark = _luminance(body) < 0.1
        assert dark == (scheme == "dark"), f"the {scheme} scheme has background {body}"
    finally:
        context.close()


def fake_signalr(page: Any, ui_host: Any) -> tuple[list[Any], list[str], list[str]]:
    """Play Azure SignalR Service with Playwright routes: the API's negotiate, the
    service's own negotiate, and the WebSocket with the JSON hub protocol. Returns the
    hub sockets, the push ids sent to negotiate and the hub URLs the client opened."""
    service = f"{ui_host.base_url}/fake-signalr/client/?hub=dtq"
    push_ids: list[str] = []

    def negotiate(route: Any) -> None:
        push_ids.append(route.request.headers.get("x-dtq-push-id", ""))
        route.fulfill(json={"url": service, "accessToken": "token-1", "group": "tenant-local"})

    page.route("**/api/negotiate", negotiate)
    transports = [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}]
    page.route(
        re.compile(r".*/fake-signalr/client/negotiate.*"),
        lambda route: route.fulfill(
            json={
                "connectionId": "c1",
                "connectionToken": "t1",
                "negotiateVersion": 1,
                "availableTransports": transports,
            }
        ),
    )
    sockets: list[Any] = []
    authorised: list[str] = []

    def hub(ws: Any) -> None:
        authorised.append(ws.url)
        sockets.append(ws)
        # Handshake: the client names its protocol; an empty object accepts it.
        ws.on_message(
            lambda message: ws.send("{}\x1e") if '"protocol":"json"' in str(message) else None
        )

    page.route_web_socket(re.compile(r".*/fake-signalr/client/.*"), hub)
    return sockets, push_ids, authorised


def pushed(job: dict[str, Any]) -> str:
    return json.dumps({"type": 1, "target": "jobUpdated", "arguments": [job]}) + "\x1e"


#: A job as shared/push.py pushes it: lean, with no payload and no error history.
LEAN_JOB = {
    "job_id": "01kpushedjob0000000000000a",
    "tenant_id": "local",
    "job_type": "simulate",
    "priority": "normal",
    "state": "running",
    "progress": 42,
    "stage": "pushed",
    "attempt": 1,
    "max_attempts": 3,
    "created_at": "2026-11-23T09:00:00+00:00",
    "updated_at": "2099-01-01T00:00:00+00:00",
    "trace_id": "0" * 32,
}


def test_progress_pushed_by_signalr_shows_without_polling(page: Any, ui_host: Any) -> None:
    """Where the API offers push (Azure: POST /api/negotiate and SignalR Service), the
    page connects with the vendored client and shows "jobUpdated" messages."""
    sockets, push_ids, authorised = fake_signalr(page, ui_host)

    def unchanged_list(route: Any) -> None:
        # The list's polls answer "no change", so only push can bring the job in.
        if route.request.headers.get("if-none-match"):
            route.fulfill(status=304)
        else:
            route.fulfill(json={"items": [], "next_cursor": None}, headers={"ETag": '"empty"'})

    page.route(re.compile(r".*/api/v1/jobs\?.*"), unchanged_list)
    page.goto("/")
    expect(page.get_by_test_id("live-mode")).to_contain_text("pushed (SignalR)")
    assert "access_token=token-1" in authorised[0], authorised
    assert re.fullmatch(r"[0-9a-f-]{36}", push_ids[0]), "a random user id for the connection"
    sockets[0].send(pushed(LEAN_JOB))
    row = page.locator(f'tr[data-job-id="{LEAN_JOB["job_id"]}"]')
    expect(row.get_by_test_id("job-progress")).to_have_attribute("aria-valuenow", "42")
    expect(row).to_contain_text("pushed")


def test_a_lean_pushed_update_keeps_the_payload_and_errors_the_detail_shows(
    page: Any, ui_host: Any
) -> None:
    """A pushed event carries no payload or error history (they would outgrow a Service
    Bus message): the detail view keeps them from the job it fetched."""
    sockets, _, _ = fake_signalr(page, ui_host)
    job_id = str(LEAN_JOB["job_id"])
    error = {
        "attempt": 1,
        "type": "TransientJobError",
        "message": "flaky once",
        "retryable": True,
        "at": "2026-11-23T09:00:01+00:00",
    }
    full = {
        **LEAN_JOB,
        "updated_at": "2026-11-23T09:00:02+00:00",
        "progress": 10,
        "payload": {"message": "kept from the fetch"},
        "errors": [error],
    }
    page.route(re.compile(rf".*/api/v1/jobs/{job_id}$"), lambda route: route.fulfill(json=full))
    page.goto(f"/#/jobs/{job_id}")
    expect(page.get_by_test_id("detail-payload")).to_contain_text("kept from the fetch")
    expect(page.get_by_test_id("live-mode")).to_contain_text("pushed (SignalR)")

    sockets[0].send(pushed({**LEAN_JOB, "progress": 77, "stage": "step 7 of 9"}))

    expect(page.get_by_test_id("detail-stage")).to_have_text("step 7 of 9")
    expect(page.get_by_test_id("detail-payload")).to_contain_text("kept from the fetch")
    expect(page.get_by_test_id("detail-error-row")).to_have_count(1)


def test_a_server_that_needs_keys_asks_for_one_and_then_works(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data_dir = Path(tmp_path_factory.mktemp("dtq-ui-keys"))
    env = {"DTQ_REQUIRE_API_KEYS": "true"}
    token = create_key(data_dir, "acme", env)
    with running_host(data_dir, env=env) as host:
        context = browser.new_context(base_url=host.base_url)
        try:
            page = context.new_page()
            page.goto("/")
            form = page.get_by_test_id("key-form")
            expect(form).to_be_visible()
            expect(page.get_by_test_id("api-key")).to_be_focused()
            page.get_by_test_id("api-key").fill("dtq_000000000000_wrong")
            page.get_by_test_id("api-key-save").click()
            expect(form).to_contain_text("refused")
            page.get_by_test_id("api-key").fill(token)
            page.get_by_test_id("api-key-save").click()
            expect(form).to_be_hidden()
            page.get_by_test_id("job-type-select").select_option("echo")
            page.get_by_test_id("field-message").fill("with a key")
            page.get_by_test_id("submit-button").click()
            expect(page.get_by_test_id("detail-state")).to_have_text("completed")
            job_id = page.url.rsplit("/", 1)[1]
            owned = httpx.get(
                f"{host.base_url}/api/v1/jobs/{job_id}", headers={"X-API-Key": token}, timeout=10
            )
            assert owned.status_code == 200 and owned.json()["tenant_id"] == "acme"
        finally:
            context.close()
