"""Ctrl-C in the terminal that runs `dtq serve` (the README's way to stop it): the
terminal sends SIGINT to its whole foreground process group. Only the host should get
it; it then stops its worker processes itself, gracefully, without restarting them and
without a traceback."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.processes import LocalHost

pytestmark = pytest.mark.e2e


def test_ctrl_c_stops_the_host_and_its_workers_cleanly(tmp_path: Path) -> None:
    host = LocalHost(tmp_path, workers=2, new_session=True).start()
    assert host.proc is not None
    try:
        time.sleep(0.3)  # the workers may still be starting
        os.killpg(host.proc.pid, signal.SIGINT)  # what Ctrl-C does
        code = host.proc.wait(timeout=30)
    finally:
        if host.proc.poll() is None:
            os.killpg(host.proc.pid, signal.SIGKILL)
            host.proc.wait()
    text = host.log()
    assert code == 0, text
    assert "restarting" not in text, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
