"""bench/scale.py keeps running: a small SQLite load, every read it reports, stats exact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_scale_bench_reads_every_list_and_exact_stats_on_sqlite() -> None:
    done = subprocess.run(
        [sys.executable, "bench/scale.py", "--backends", "sqlite", "--sizes", "300", "600"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    rows = {line.split(" | ")[0].strip("| ") for line in done.stdout.splitlines()}
    for read in ("list, newest first", "list, state+type", "DLQ (state=failed)", "stats"):
        assert read in rows, done.stdout
    assert "retention, none due" in rows, done.stdout
    assert done.stdout.count("exact") == 2 and "NOT exact" not in done.stdout, done.stdout
