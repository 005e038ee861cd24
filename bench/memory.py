"""Peak memory of `dtq serve` (and its 2 worker processes) while 10,000 `echo` jobs are
queued (batch submit, workers paused by starting them only once all are queued) and
then drained. Peak RSS is the kernel's high-water mark (VmHWM) of each process.

    .venv/bin/python bench/memory.py --jobs 10000
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.processes import LocalHost, start_worker, stop_process


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dtq-memory-") as tmp:
        data = Path(tmp)
        host = LocalHost(data_dir=data, workers=0, env={"DTQ_LOG_LEVEL": "WARNING"})
        host.start()
        workers: list[subprocess.Popen[bytes]] = []
        try:
            with httpx.Client(base_url=f"{host.base_url}/api/v1", timeout=30) as api:
                for first in range(0, args.jobs, 100):
                    batch = [
                        {"job_type": "echo", "payload": {"message": f"m{first + i}"}}
                        for i in range(min(100, args.jobs - first))
                    ]
                    api.post("/jobs:batch", json={"jobs": batch}).raise_for_status()
                assert host.proc is not None
                queued_peak = peak_mib(host.proc.pid)
                workers = [start_worker(data, {"DTQ_LOG_LEVEL": "WARNING"}) for _ in range(2)]
                while True:
                    with sqlite3.connect(data / "dtq.sqlite3") as db:
                        left = db.execute("SELECT COUNT(*) FROM jobs WHERE state != 'completed'")
                        if left.fetchone()[0] == 0:
                            break
                    api.get("/jobs", params={"limit": 50})  # a UI polling meanwhile
                    time.sleep(0.1)
                serve_peak = peak_mib(host.proc.pid)
                worker_peaks = [peak_mib(w.pid) for w in workers]
        finally:
            for w in workers:
                stop_process(w)
            host.stop()
    print(f"{args.jobs} echo jobs queued, then drained by 2 worker processes; peak RSS (MiB)")
    print(f"dtq serve with all jobs queued:     {queued_peak:7.1f}")
    print(f"dtq serve after the drain:          {serve_peak:7.1f}")
    for i, peak in enumerate(worker_peaks, 1):
        print(f"dtq worker {i}:                      {peak:7.1f}")
    print(f"all processes:                      {serve_peak + sum(worker_peaks):7.1f}")


if __name__ == "__main__":
    main()
