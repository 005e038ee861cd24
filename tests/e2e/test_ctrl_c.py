"""Ctrl-C in the terminal that runs `dtq serve` (the README's way to stop it): the
terminal sends SIGINT to its whole foreground process group. Only the host should get
it; it then stops its worker processes itself, gracefully, without restarting them and
without a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port

pytestmark = pytest.mark.e2e


def test_ctrl_c_stops_the_host_and_its_workers_cleanly(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "host.log"
    with log.open("wb") as out:
        # A session of its own plays the terminal: its process group is the foreground.
        host = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shared.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                "2",
                "--data-dir",
                str(tmp_path / "data"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/api/v1/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            time.sleep(0.3)  # the workers may still be starting
            os.killpg(host.pid, signal.SIGINT)  # what Ctrl-C does
            code = host.wait(timeout=30)
        finally:
            if host.poll() is None:
                os.killpg(host.pid, signal.SIGKILL)
                host.wait()
    text = log.read_text()
    assert code == 0, text
    assert "restarting" not in text, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
