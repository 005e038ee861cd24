"""Browser tests: Playwright for Python driving Debian's Chromium (``executable_path``;
never a downloaded browser) against ``dtq serve`` on a free loopback port. Skipped
when Chromium or Playwright is missing, unless DTQ_REQUIRE_BROWSER=1 (``./dev test``
installs both), then they fail."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import chromium_executable, launch
from tests.support.processes import LocalHost, running_host


def _need(reason: str) -> None:
    if os.environ.get("DTQ_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="package")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Chromium for tests/browser (each test opens a context of its own), closed when
    the package's last test is done: Playwright's sync API runs an event loop in this
    thread while it is open, which the async tests of other packages must not meet (this
    package has none)."""
    chosen = os.environ.get("DTQ_CHROMIUM")
    if chosen and not os.access(chosen, os.X_OK):
        _need(f"DTQ_CHROMIUM={chosen} is not an executable")
    executable = chromium_executable()
    if executable is None:
        _need("Debian's chromium is not installed (./dev test installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("playwright is not installed (./dev test installs it)")
    with sync_playwright() as playwright:
        launched = launch(playwright, executable, str(tmp_path_factory.mktemp("chromium")))
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def ui_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    env = {"DTQ_CANCEL_CHECK_SECONDS": "0.5"}
    with running_host(
        Path(tmp_path_factory.mktemp("dtq-ui")), env=env, background_stop=True
    ) as host:
        yield host


@pytest.fixture
def page(browser: Any, ui_host: LocalHost) -> Iterator[Any]:
    context = browser.new_context(base_url=ui_host.base_url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.requests = requests  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def api(ui_host: LocalHost) -> Iterator[httpx.Client]:
    """The same host's HTTP API, to set up a scene (failed jobs) and check its outcome."""
    with httpx.Client(base_url=f"{ui_host.base_url}/api/v1", timeout=10) as client:
        yield client


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)
