"""A job's completion webhook in the UI, in headless Chromium against the local host: the
submit form's Callback URL option sends ``callback_url``, and the job's detail shows the
delivery (its state and each attempt's answer) as the host's deliverer records it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import expect
from tests.support.processes import LocalHost, running_host

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


class Receiver(BaseHTTPRequestHandler):
    """Answers the first POST 500 and the next ones 204."""

    posts: list[bytes] = []

    def do_POST(self) -> None:
        self.posts.append(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(500 if len(self.posts) == 1 else 204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def ui_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    """A host that may call loopback targets, and retries a failed delivery at once."""
    env = {
        "DTQ_WEBHOOK_ALLOW_PRIVATE": "true",
        "DTQ_WEBHOOK_BACKOFF_BASE_SECONDS": "0.5",
    }
    with running_host(
        Path(tmp_path_factory.mktemp("dtq-webhook-ui")), env=env, background_stop=True
    ) as host:
        yield host


def test_the_form_sends_a_callback_url_and_the_detail_shows_each_delivery_attempt(
    page: Any, receiver: str
) -> None:
    Receiver.posts = []
    page.goto("/#/jobs")
    page.get_by_test_id("job-type-select").select_option("echo")
    page.get_by_test_id("field-message").fill("ring me")
    page.get_by_test_id("options").locator("summary").click()
    page.get_by_label("Callback URL").fill(receiver)
    page.get_by_test_id("submit-button").click()
    expect(page.get_by_test_id("job-row")).to_have_count(1)

    page.get_by_test_id("job-row").first.click()
    box = page.get_by_role("region", name="Completion webhook")
    expect(box).to_be_visible()
    expect(box).to_contain_text(receiver)
    state = page.get_by_test_id("detail-webhook-state")
    delivered = re.compile(r"^delivered \(job\.completed, 2 attempt")
    expect(state).to_have_text(delivered, timeout=20_000)
    attempts = page.get_by_test_id("detail-webhook-attempt")
    expect(attempts).to_have_count(2)
    expect(attempts.nth(0)).to_contain_text("500")
    expect(attempts.nth(1)).to_contain_text("204")
    assert len(Receiver.posts) == 2 and Receiver.posts[0] == Receiver.posts[1]
