"""Chaos, CI-sized: workers SIGKILLed every second while 200 jobs run (bench/chaos.py
runs 2,000)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.chaos import run_chaos

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_no_job_is_lost_or_completed_twice_while_workers_die(tmp_path: Path) -> None:
    report = run_chaos(tmp_path, jobs=200, kill_every=1.0, timeout=240)
    assert report.ok(), report.problems
    assert report.kills >= 2, "the run was long enough to kill workers more than once"
    assert report.redelivered_jobs >= 1, "some jobs were caught by a kill and redelivered"
