"""Latency on an idle system, through `dtq serve` (2 worker processes, embedded backend):

- submit: POST /api/v1/jobs round trip;
- submit-to-completed: from sending the POST until GET shows `completed` (polled every
  2 ms);
- progress-visible: a `simulate` job reports progress every 100 ms; for each report the
  delay from the worker's write (the job's `updated_at`) until GET first shows it.

    .venv/bin/python bench/latency.py --samples 200
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.processes import LocalHost


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    submit: list[float] = []
    done: list[float] = []
    visible: list[float] = []
    with tempfile.TemporaryDirectory(prefix="dtq-latency-") as tmp:
        host = LocalHost(data_dir=Path(tmp), workers=2, env={"DTQ_LOG_LEVEL": "WARNING"})
        host.start()
        try:
            with httpx.Client(base_url=f"{host.base_url}/api/v1", timeout=10) as api:
                for i in range(args.samples):
                    t0 = time.perf_counter()
                    job = api.post(
                        "/jobs", json={"job_type": "echo", "payload": {"message": str(i)}}
                    ).json()
                    submit.append(time.perf_counter() - t0)
                    while api.get(f"/jobs/{job['job_id']}").json()["state"] != "completed":
                        time.sleep(0.002)
                    done.append(time.perf_counter() - t0)
                    time.sleep(0.05)  # idle between samples
                steps = max(10, args.samples // 4)
                job = api.post(
                    "/jobs",
                    json={
                        "job_type": "simulate",
                        "payload": {"duration_ms": steps * 100, "steps": steps},
                    },
                ).json()
                seen: set[str] = set()
                while True:
                    current = api.get(f"/jobs/{job['job_id']}").json()
                    now = time.time()
                    stamp = current["updated_at"]
                    if (
                        current["state"] == "running"
                        and current["progress"] > 0
                        and stamp not in seen
                    ):
                        seen.add(stamp)
                        written = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                        visible.append(max(0.0, now - written))
                    if current["state"] in ("completed", "failed"):
                        break
                    time.sleep(0.002)
        finally:
            host.stop()
    print(f"idle latency through dtq serve ({args.samples} samples; ms)")
    print(f"{'measure':<34} {'p50':>7} {'p99':>7} {'max':>7}")
    for name, values in (
        ("submit (POST round trip)", submit),
        ("submit to completed", done),
        ("progress write to visible in GET", visible),
    ):
        print(
            f"{name:<34} {pct(values, 50):>7.1f} {pct(values, 99):>7.1f} {max(values) * 1000:>7.1f}"
        )


if __name__ == "__main__":
    main()
