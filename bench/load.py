"""Submit under load: CLIENTS concurrent HTTP clients POST `echo` jobs to `dtq serve`
for SECONDS seconds (2 worker processes drain them meanwhile); prints requests/s,
latency p50/p99/p99.9 and errors (none expected).

    .venv/bin/python bench/load.py --clients 16 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.processes import LocalHost


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


async def load(base: str, clients: int, seconds: float) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def client(n: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            i = 0
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                try:
                    response = await http.post(
                        "/jobs", json={"job_type": "echo", "payload": {"message": f"{n}-{i}"}}
                    )
                    if response.status_code != 202:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - started)
                i += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies, errors, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dtq-load-") as tmp:
        host = LocalHost(data_dir=Path(tmp), workers=2, env={"DTQ_LOG_LEVEL": "WARNING"})
        host.start()
        try:
            latencies, errors, elapsed = asyncio.run(
                load(f"{host.base_url}/api/v1", args.clients, args.seconds)
            )
        finally:
            host.stop()
    print(f"{args.clients} clients for {args.seconds:.0f} s against dtq serve (2 workers)")
    print(f"{'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>9} {'errors':>7}")
    print(
        f"{len(latencies):>9} {len(latencies) / elapsed:>7.0f} {pct(latencies, 50):>7.1f}"
        f" {pct(latencies, 99):>7.1f} {pct(latencies, 99.9):>9.1f} {errors:>7}"
    )


if __name__ == "__main__":
    main()
