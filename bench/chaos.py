"""Chaos at full size: 2,000 `simulate` jobs across `dtq serve` and two `dtq worker`
processes, one of which is SIGKILLed (and restarted) every 2 s.

    .venv/bin/python bench/chaos.py --jobs 2000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.chaos import run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--kill-every", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dtq-chaos-") as tmp:
        report = run_chaos(Path(tmp), args.jobs, kill_every=args.kill_every, timeout=1200)
    print(f"jobs {report.jobs}, worker kills {report.kills}, {report.seconds:.0f} s")
    print(f"states {dict(report.states)}; result rows {report.result_rows}")
    print(f"completions per job {dict(report.completions_per_job)}")
    print(f"jobs redelivered after a kill {report.redelivered_jobs}")
    print(f"messages left {report.messages_left}, dead-lettered {report.dead_lettered}")
    print("OK" if report.ok() else f"PROBLEMS: {report.problems}")
    return 0 if report.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
