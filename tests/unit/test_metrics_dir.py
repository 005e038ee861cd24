"""Where the local host keeps its Prometheus values: prometheus_client memory-maps sparse
files there, and writing into a mapping that a full disk cannot back kills the process
with SIGBUS. So the folder is never on the data folder's disk (a full data disk must
answer 507, not kill workers: tests/e2e/test_disk_full.py), and it is the same folder
for every process of one data folder (a `dtq worker` started apart adds to the host's
figures), another for another data folder."""

from __future__ import annotations

from pathlib import Path

from shared.metrics import multiprocess_dir


def test_the_metrics_folder_is_off_the_data_folder_and_shared_by_its_processes(
    tmp_path: Path,
) -> None:
    folder = multiprocess_dir(tmp_path / "one")
    assert not folder.resolve().is_relative_to(tmp_path.resolve())
    assert multiprocess_dir(tmp_path / "one") == folder
    assert multiprocess_dir(tmp_path / "two") != folder
