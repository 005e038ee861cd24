"""Debian's Chromium under Playwright, as the browser tests and bench/latency.py start it."""

from __future__ import annotations

import os
import shutil
from typing import Any

CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Chromium's own background look-ups go nowhere; the page's requests are what we see.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


def chromium_executable() -> str | None:
    """DTQ_CHROMIUM (a browser already there: GitHub's runner brings Google Chrome, and
    Ubuntu's chromium package is a snap stub), else Debian's chromium; None if neither."""
    return (
        os.environ.get("DTQ_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )


def launch(playwright: Any, executable: str, profile: str) -> Any:
    """Headless Chromium whose profile and caches go to ``profile``, not $HOME."""
    env = {name: profile for name in ("TMPDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    return playwright.chromium.launch(
        executable_path=executable, headless=True, args=CHROMIUM_ARGS, env={**os.environ, **env}
    )
