"""A page on another origin, in the user's browser, tries to change the keyless local
host: a form post, no-cors fetches, a purge. Served from another port of the same
machine (another origin, the same site: the browser sends no preflight and applies no
private-network rule), it is what any local dev server or opened file could do."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import expect
from tests.support.polling import wait_job
from tests.support.processes import LocalHost

pytestmark = pytest.mark.browser

ATTACK = """<!doctype html>
<html><body>
<form id="forged" method="POST" action="{api}/jobs" enctype="text/plain" target="sink">
  <input name='{{"job_type": "echo", "payload": {{"message": "forged by a form", "x": "'
         value='"}}}}'>
</form>
<iframe name="sink"></iframe>
<p id="done"></p>
<script>
  const api = "{api}";
  const body = JSON.stringify({{job_type: "echo", payload: {{message: "forged by fetch"}}}});
  document.getElementById("forged").submit();
  Promise.allSettled([
    fetch(api + "/jobs", {{method: "POST", mode: "no-cors", body,
                           headers: {{"Content-Type": "text/plain"}}}}),
    fetch(api + "/jobs", {{method: "POST", mode: "no-cors", body}}),
    fetch(api + "/dlq/purge", {{method: "POST", mode: "no-cors"}}),
    fetch(api + "/jobs/" + "{job_id}", {{method: "DELETE", mode: "no-cors"}}),
  ]).then(() => {{ document.getElementById("done").textContent = "sent"; }});
</script>
</body></html>
"""


@pytest.fixture
def attacker_site(tmp_path: Path) -> Iterator[str]:
    """Another origin on this machine (127.0.0.1, another port), serving files."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_on_another_origin_cannot_change_anything(
    browser: Any, ui_host: LocalHost, api: httpx.Client, attacker_site: str, tmp_path: Path
) -> None:
    doomed = api.post(
        "/jobs",
        json={"job_type": "simulate", "payload": {"fail_permanently": True, "duration_ms": 0}},
    ).json()
    waiting = api.post(
        "/jobs", json={"job_type": "echo", "payload": {"message": "later"}, "delay_seconds": 600}
    ).json()
    wait_job(api, doomed["job_id"], {"failed"})
    before = {j["job_id"] for j in api.get("/jobs", params={"limit": 100}).json()["items"]}
    (tmp_path / "attack.html").write_text(
        ATTACK.format(api=f"{ui_host.base_url}/api/v1", job_id=waiting["job_id"])
    )
    context = browser.new_context()
    try:
        page = context.new_page()
        answers: list[tuple[str, int]] = []
        page.on("response", lambda r: answers.append((r.url, r.status)))
        page.goto(f"{attacker_site}/attack.html")
        expect(page.locator("#done")).to_have_text("sent")
        page.wait_for_timeout(500)  # the form's post lands in the iframe
    finally:
        context.close()

    after = api.get("/jobs", params={"limit": 100}).json()["items"]
    assert {j["job_id"] for j in after} == before, "no job was created"
    assert api.get(f"/jobs/{waiting['job_id']}").json()["state"] == "scheduled"
    assert api.get(f"/jobs/{doomed['job_id']}").status_code == 200, "nothing was purged"
    refused = [status for url, status in answers if url.startswith(ui_host.base_url)]
    assert refused and all(status == 403 for status in refused), answers


def test_a_rebound_host_name_is_refused(ui_host: LocalHost) -> None:
    response = httpx.get(
        f"{ui_host.base_url}/api/v1/jobs", headers={"Host": "rebind.attacker.example"}
    )
    assert response.status_code == 421
    assert response.headers["content-type"] == "application/problem+json"


def test_the_page_may_not_be_framed(ui_host: LocalHost) -> None:
    response = httpx.get(f"{ui_host.base_url}/")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
