"""bench/scale.py keeps running: a small SQLite load, every read it reports, stats exact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


async def test_a_table_written_as_azurites_file_reads_as_one_loaded_through_its_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/scale.py --table-load file (how it reaches 100,000 jobs on Azurite) must
    read what a table loaded through Azurite's API reads: the same requests and
    entities for every list, the same requests for the stats, exact either way."""
    sys.path.insert(0, str(ROOT / "bench"))
    import scale

    from tests.support.emulators import Azurite

    # Counts, not times, are compared: the last of two reads (a fresh store's first read
    # also reads the table's index marker).
    monkeypatch.setattr(scale, "REPEATS", 2)

    azurite = Azurite().start()
    try:
        _, by_api = await scale.run_table(300, azurite.connection_string)
    finally:
        azurite.stop()
    _, by_file = await scale.run_table_file(300, tmp_path)
    for api, file in zip(by_api, by_file, strict=True):
        assert api["read"] == file["read"]
        assert api["requests"] == file["requests"], (api, file)
        if api["read"] == "stats":
            assert api["exact"] and file["exact"]
        else:
            assert api["entities"] == file["entities"], (api, file)
            assert api["items"] == file["items"], (api, file)
