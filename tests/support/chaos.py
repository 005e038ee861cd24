"""Chaos: jobs run across `dtq serve` and worker processes that keep being SIGKILLed.

Used by the CI-sized test (tests/e2e/test_chaos.py) and the full-size script
(bench/chaos.py). At the end every job must be terminal and completed, none stuck,
none completed twice (a completion is logged only when the state change wins), each
with one result row, and the queue empty with nothing dead-lettered.
"""

from __future__ import annotations

import asyncio
import random
import re
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.processes import JOB_MESSAGES, LocalHost, start_worker, stop_process

COMPLETED_LINE = re.compile(r"job (\w+) completed(?: \[job=.*\])?$", re.MULTILINE)


@dataclass
class ChaosReport:
    jobs: int
    kills: int
    seconds: float
    states: Counter[str]
    completions_per_job: Counter[int]
    result_rows: int
    messages_left: int
    dead_lettered: int
    redelivered_jobs: int
    problems: list[str] = field(default_factory=list)

    def ok(self) -> bool:
        return not self.problems


async def _submit_all(base: str, jobs: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    ids: list[str] = []

    async def client(batch: list[int]) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for _ in batch:
                payload = {
                    "duration_ms": rng.randint(100, 800),
                    "steps": rng.randint(1, 4),
                    "fail_first": 1 if rng.random() < 0.1 else 0,
                }
                response = await http.post(
                    "/jobs", json={"job_type": "simulate", "payload": payload, "max_attempts": 3}
                )
                response.raise_for_status()
                ids.append(response.json()["job_id"])

    chunks = [list(range(jobs))[i::8] for i in range(8)]
    await asyncio.gather(*(client(chunk) for chunk in chunks))
    return ids


def run_chaos(
    data_dir: Path,
    jobs: int,
    *,
    workers: int = 2,
    kill_every: float = 2.0,
    timeout: float = 300.0,
    seed: int = 7,
    lock_seconds: float = 2.0,
) -> ChaosReport:
    env = {
        "DTQ_QUEUE_LOCK_SECONDS": str(lock_seconds),
        "DTQ_RETRY_BACKOFF_BASE_SECONDS": "0.2",
        "DTQ_LOG_LEVEL": "INFO",
    }
    host = LocalHost(data_dir=data_dir, workers=0, env=env)
    host.start()
    rng = random.Random(seed)
    procs: list[subprocess.Popen[bytes]] = [start_worker(data_dir, env) for _ in range(workers)]
    kills = 0
    started = time.monotonic()
    try:
        ids = asyncio.run(_submit_all(f"{host.base_url}/api/v1", jobs, seed))
        next_kill = time.monotonic() + kill_every
        with httpx.Client(base_url=f"{host.base_url}/api/v1", timeout=30) as api:
            while time.monotonic() - started < timeout:
                if time.monotonic() >= next_kill:
                    victim = rng.randrange(len(procs))
                    procs[victim].send_signal(signal.SIGKILL)
                    procs[victim].wait()
                    procs[victim] = start_worker(data_dir, env)
                    kills += 1
                    next_kill = time.monotonic() + kill_every
                pending = 0
                for state in ("queued", "running", "retrying", "scheduled"):
                    pending += len(
                        api.get("/jobs", params={"state": state, "limit": 1}).json()["items"]
                    )
                if pending == 0:
                    break
                time.sleep(0.25)
    finally:
        for proc in procs:
            stop_process(proc)
        host.stop()
    seconds = time.monotonic() - started

    with sqlite3.connect(data_dir / "dtq.sqlite3") as db:
        states = Counter(state for (state,) in db.execute("SELECT state FROM jobs"))
        result_rows = db.execute("SELECT COUNT(*) FROM job_results").fetchone()[0]
        messages_left = db.execute(JOB_MESSAGES + " AND status = 0").fetchone()[0]
        dead = db.execute(JOB_MESSAGES + " AND status = 1").fetchone()[0]
        mismatched = db.execute(
            "SELECT COUNT(*) FROM jobs JOIN job_results USING (job_id)"
            " WHERE json_extract(jobs.data, '$.attempt')"
            "    != json_extract(job_results.result, '$.attempt')"
        ).fetchone()[0]
        redelivered = db.execute(
            "SELECT COUNT(*) FROM jobs WHERE json_extract(data, '$.delivery_count') > 1"
        ).fetchone()[0]
    log_text = (data_dir / "worker.log").read_text(errors="replace")
    completions = Counter(COMPLETED_LINE.findall(log_text))
    per_job = Counter(completions.get(job_id, 0) for job_id in ids)

    problems = []
    if states.get("completed", 0) != jobs or sum(states.values()) != jobs:
        problems.append(f"not every job completed: {dict(states)}")
    if result_rows != jobs:
        problems.append(f"{result_rows} result rows for {jobs} jobs")
    # A worker killed between its winning state change and its log line leaves 0 lines;
    # two lines for one job would mean two completions won.
    if max(per_job) > 1:
        problems.append(f"completions per job: {dict(per_job)} (no job may complete twice)")
    if per_job.get(1, 0) < jobs * 0.9:
        problems.append(f"too few completions were logged: {dict(per_job)}")
    if mismatched:
        problems.append(f"{mismatched} results come from another attempt than the completed one")
    if messages_left or dead:
        problems.append(f"{messages_left} messages left, {dead} dead-lettered")
    return ChaosReport(
        jobs=jobs,
        kills=kills,
        seconds=seconds,
        states=states,
        completions_per_job=per_job,
        result_rows=result_rows,
        messages_left=messages_left,
        dead_lettered=dead,
        redelivered_jobs=redelivered,
        problems=problems,
    )
