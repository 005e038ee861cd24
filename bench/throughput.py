"""End-to-end throughput of `echo` jobs through `dtq serve` on the embedded backend.

Starts `dtq serve` (N worker processes) on a free loopback port with a fresh data
folder, submits JOBS echo jobs over HTTP from CONCURRENCY async clients, and reports:

- submit rate (HTTP 202s per second while submitting),
- end-to-end jobs/s from the first submit to the last completion.

Completion is counted from the SQLite status table (a read-only query every 20 ms)
so that polling does not load the API being measured.

    .venv/bin/python bench/throughput.py --jobs 5000 --workers 2 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.processes import LocalHost  # noqa: E402


async def submit_all(base: str, jobs: int, concurrency: int) -> tuple[float, float, int]:
    counter = iter(range(jobs))
    errors = 0

    async def client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for i in counter:
                r = await http.post(
                    "/jobs", json={"job_type": "echo", "payload": {"message": f"m{i}"}}
                )
                if r.status_code != 202:
                    errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return start, time.perf_counter(), errors


def completed(db_path: Path) -> int:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10) as db:
        return int(db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'completed'").fetchone()[0])


async def run(jobs: int, workers: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory(prefix="dtq-bench-") as tmp:
        host = LocalHost(data_dir=Path(tmp), workers=workers, env={"DTQ_LOG_LEVEL": "WARNING"})
        host.start()
        try:
            db = Path(tmp) / "dtq.sqlite3"
            submitting = asyncio.create_task(
                submit_all(f"{host.base_url}/api/v1", jobs, concurrency)
            )
            while not submitting.done() or completed(db) < jobs:
                if submitting.done() and submitting.result()[2]:
                    break
                await asyncio.sleep(0.02)
            end = time.perf_counter()
            start, submitted_at, errors = submitting.result()
        finally:
            host.stop()
    submit_s = submitted_at - start
    total_s = end - start
    print(
        f"dtq serve, embedded SQLite backend, {workers} worker processes,"
        f" {concurrency} HTTP clients"
    )
    print(f"{'jobs':>8} {'errors':>7} {'submit/s':>10} {'end-to-end jobs/s':>18} {'total s':>8}")
    print(f"{jobs:>8} {errors:>7} {jobs / submit_s:>10.0f} {jobs / total_s:>18.0f} {total_s:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(run(args.jobs, args.workers, args.concurrency))


if __name__ == "__main__":
    main()
