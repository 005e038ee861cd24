"""End-to-end throughput of `echo` jobs: dtq's local host against Huey, in one run.

dtq: starts `dtq serve` (N worker processes) on a free loopback port with a fresh data
folder, submits JOBS echo jobs over HTTP from CONCURRENCY async clients, and reports
the submit rate and end-to-end jobs/s from the first submit to the last completion
(counted from the SQLite status table by a read-only query every 20 ms, so polling
does not load the API being measured).

Celery with a Redis broker (redis-server from Debian on a free port; prefork pool of N
processes) runs the same no-op task from one producer, timed to the last result.

Huey (the embedded peer a Python user would pick): SqliteHuey with a no-op task,
JOBS tasks enqueued from one producer while a `huey_consumer` with N worker processes
runs them; end-to-end from the first enqueue to the last result stored. Huey is
installed by `pip install -e '.[bench]'`; without it that row is skipped.

    .venv/bin/python bench/throughput.py --jobs 5000 --workers 2 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.processes import LocalHost  # noqa: E402


async def submit_all(
    base: str, jobs: int, concurrency: int, batch: int
) -> tuple[float, float, int]:
    """Submit ``jobs`` echo jobs; ``batch`` > 1 uses POST /jobs:batch with that many each."""
    chunks = iter(range(0, jobs, batch))
    errors = 0

    async def client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for first in chunks:
                n = min(batch, jobs - first)
                bodies = [
                    {"job_type": "echo", "payload": {"message": f"m{first + i}"}} for i in range(n)
                ]
                if batch == 1:
                    r = await http.post("/jobs", json=bodies[0])
                    errors += r.status_code != 202
                else:
                    r = await http.post("/jobs:batch", json={"jobs": bodies})
                    errors += n if r.status_code != 200 else r.json()["rejected"]

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return start, time.perf_counter(), errors


def peer_process(program: str, *args: str) -> subprocess.Popen[bytes]:
    """A peer's worker process (a console script of this venv), run in bench/peers."""
    return subprocess.Popen(
        [str(Path(sys.executable).parent / program), *args],
        cwd=ROOT / "bench" / "peers",
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def completed(db_path: Path) -> int:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10) as db:
        return int(db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'completed'").fetchone()[0])


async def run_dtq(
    jobs: int, workers: int, concurrency: int, batch: int
) -> tuple[float, float, int]:
    """(submit/s, end-to-end jobs/s, errors) through a fresh `dtq serve`."""
    with tempfile.TemporaryDirectory(prefix="dtq-bench-") as tmp:
        host = LocalHost(data_dir=Path(tmp), workers=workers, env={"DTQ_LOG_LEVEL": "WARNING"})
        host.start()
        try:
            db = Path(tmp) / "dtq.sqlite3"
            submitting = asyncio.create_task(
                submit_all(f"{host.base_url}/api/v1", jobs, concurrency, batch)
            )
            while not submitting.done() or completed(db) < jobs:
                if submitting.done() and submitting.result()[2]:
                    break
                await asyncio.sleep(0.02)
            end = time.perf_counter()
            start, submitted_at, errors = submitting.result()
        finally:
            host.stop()
    return jobs / (submitted_at - start), jobs / (end - start), errors


def run_celery(jobs: int, workers: int) -> tuple[float, float] | None:
    """(enqueue/s, end-to-end jobs/s) through Celery with a Redis broker and result
    backend (redis-server from Debian on a free port), or None without them."""
    import importlib
    import shutil

    from tests.support.processes import free_port, stop_process

    try:
        import celery  # noqa: F401
        import redis
    except ImportError:
        return None
    server = shutil.which("redis-server")
    if server is None:
        return None
    port = free_port()
    redis_proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ["BENCH_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    sys.path.insert(0, str(ROOT / "bench" / "peers"))
    app = importlib.import_module("celery_app")
    worker = peer_process(
        "celery", "-A", "celery_app", "worker", "-c", str(workers), "-P", "prefork",
        "--loglevel", "WARNING",
    )  # fmt: skip
    try:
        time.sleep(3.0)  # let the worker connect, as dtq serve is started before timing
        start = time.perf_counter()
        results = [app.echo.delay(f"m{i}") for i in range(jobs)]
        enqueued = time.perf_counter()
        for result in results:
            result.get(timeout=120)
        end = time.perf_counter()
    finally:
        stop_process(worker)
        stop_process(redis_proc)
    return jobs / (enqueued - start), jobs / (end - start)


def row(system: str, figures: tuple[float, float, int]) -> None:
    print(f"{system:<44} {figures[0]:>9.0f} {figures[1]:>18.0f} {figures[2]:>7}")


async def run(jobs: int, workers: int, concurrency: int) -> None:
    print(f"{jobs} echo jobs, {workers} worker processes, on this machine, in one run")
    print(f"{'system':<44} {'submit/s':>9} {'end-to-end jobs/s':>18} {'errors':>7}")
    single = await run_dtq(jobs, workers, concurrency, 1)
    row("dtq serve, 1 HTTP request per job", single)
    batched = await run_dtq(jobs, workers, max(1, concurrency // 4), 100)
    row("dtq serve, batch submit (100 per request)", batched)
    huey = run_huey(jobs, workers)
    if huey is None:
        print("SqliteHuey: not installed (pip install -e '.[bench]'); skipped")
        return
    row("SqliteHuey (in-process enqueue, no HTTP)", (*huey, 0))
    print(
        f"dtq / Huey end-to-end: single {single[1] / huey[1]:.2f}, batch {batched[1] / huey[1]:.2f}"
    )
    celery = run_celery(jobs, workers)
    if celery is None:
        print(
            "Celery/Redis: not installed (pip install -e '.[bench]'; apt-get install redis-server)"
        )
        return
    row("Celery, Redis broker (in-process enqueue)", (*celery, 0))
    print(
        f"dtq / Celery end-to-end: single {single[1] / celery[1]:.2f},"
        f" batch {batched[1] / celery[1]:.2f}"
    )


def run_huey(jobs: int, workers: int) -> tuple[float, float] | None:
    """(enqueue/s, end-to-end jobs/s) through SqliteHuey, or None without Huey."""
    try:
        import huey  # noqa: F401
    except ImportError:
        return None
    import importlib

    with tempfile.TemporaryDirectory(prefix="dtq-bench-huey-") as tmp:
        os.environ["BENCH_HUEY_DB"] = str(Path(tmp) / "huey.db")
        sys.path.insert(0, str(ROOT / "bench" / "peers"))
        app = importlib.import_module("huey_app")
        consumer = peer_process(
            "huey_consumer", "huey_app.huey", "-k", "process", "-w", str(workers), "-q"
        )
        try:
            time.sleep(1.0)  # let the consumer start, as dtq serve is started before timing
            start = time.perf_counter()
            for i in range(jobs):
                app.echo(f"m{i}")
            enqueued = time.perf_counter()
            while app.huey.storage.result_store_size() < jobs:
                time.sleep(0.02)
            end = time.perf_counter()
        finally:
            consumer.terminate()
            consumer.wait(timeout=30)
    return jobs / (enqueued - start), jobs / (end - start)


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
