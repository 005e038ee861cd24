"""A full disk under a running local host: its data dir is a small tmpfs the test fills
while jobs run. Submits are refused with 507 and Retry-After (problem+json), the reason is
logged in one line without a traceback, /healthz reports the store not ok with the reason,
no worker process dies, and once space is freed every accepted job completes exactly once.

Mounting needs root (or CAP_SYS_ADMIN); where the test may not mount it is skipped with
the reason."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.api import Api
from tests.support.processes import LocalHost

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Between deliveries during an outage the worker waits 1, 2, 2, ... s.
OUTAGE_BACKOFF = {"DTQ_OUTAGE_BACKOFF_BASE_SECONDS": "1", "DTQ_OUTAGE_BACKOFF_MAX_SECONDS": "2"}
#: A message the full disk kept its worker from settling comes back when its lock expires,
#: and its attempt is taken over when the lease its run could not give back lapses: 5 s
#: and 10 s here instead of the defaults' 30 s and 60 s, which the test otherwise waits
#: out after space is freed (runs renew their locks and leases, so none lapses early).
SHORT_LOCK = {"DTQ_QUEUE_LOCK_SECONDS": "5"}


@contextmanager
def small_filesystem(path: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` for the block, unmounted after it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root; this test runs unprivileged")
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)


def fill(directory: Path) -> Path:
    """Write a ballast file until the file system says ENOSPC; the ballast's path."""
    ballast = directory / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (1 << 16, 1 << 12, 1):
            while True:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    finally:
        os.close(fd)
    return ballast


def test_a_full_disk_refuses_with_507_keeps_workers_alive_and_runs_each_job_once(
    tmp_path: Path,
) -> None:
    with small_filesystem(tmp_path / "data") as data:
        # The host's log stays on the roomy disk; its data (the SQLite file) on the tmpfs.
        host = LocalHost(
            data_dir=tmp_path / "host",
            workers=2,
            env={"DTQ_DATA_DIR": str(data), **OUTAGE_BACKOFF, **SHORT_LOCK},
        )
        host.start()
        try:
            with Api(host.base_url, timeout=30) as api:
                accepted = [
                    api.submit("simulate", {"duration_ms": 3000, "steps": 10})["job_id"]
                    for _ in range(4)
                ]
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:  # some run and report progress
                    states = [api.get(i)["state"] for i in accepted]
                    if states.count("running") >= 2:
                        break
                    time.sleep(0.1)
                assert "running" in states, states

                ballast = fill(data)
                # Pages SQLite already holds (a reused WAL, free pages) may take a few
                # more writes; soon a submit needs space the disk does not have.
                refused = None
                for n in range(300):
                    body = {"job_type": "echo", "payload": {"message": f"{n:04d}" + "x" * 4000}}
                    answer = api.http.post("/jobs", json=body)
                    if answer.status_code == 202:
                        accepted.append(answer.json()["job_id"])
                        continue
                    refused = answer
                    break
                assert refused is not None, "the full disk never refused a submit"
                assert refused.status_code == 507, refused.text
                assert refused.headers["content-type"].startswith("application/problem+json")
                assert int(refused.headers["retry-after"]) >= 30
                assert "disk is full" in refused.json()["detail"]

                health = api.http.get("/healthz")
                assert health.status_code == 503, health.text
                store = health.json()["checks"]["status_store"]
                assert store["ok"] is False and "disk is full" in store["error"], store

                time.sleep(6)  # in-flight attempts fail to write; their messages go back
                log = host.log()
                assert re.search(
                    r"storage refuses writes to \S+: the job store's disk is full", log
                )
                assert "Traceback" not in log, log[-3000:]
                assert "restarting it" not in log, "a worker process died on the full disk"
                assert host.proc is not None and host.proc.poll() is None

                ballast.unlink()
                deadline = time.monotonic() + 90
                jobs: list[dict[str, object]] = []
                while time.monotonic() < deadline:
                    jobs = [api.get(i) for i in accepted]
                    if all(j["state"] == "completed" for j in jobs):
                        break
                    time.sleep(0.5)
                assert [j["state"] for j in jobs] == ["completed"] * len(accepted), jobs
                for job in jobs:
                    assert job["errors"] == [] and job["attempt"] == 1, job

                accepted.append(api.submit("echo", {"message": "after"})["job_id"])
                deadline = time.monotonic() + 30
                while api.get(accepted[-1])["state"] != "completed":
                    assert time.monotonic() < deadline, "the job submitted after never ran"
                    time.sleep(0.2)
                assert api.http.get("/healthz").status_code == 200
        finally:
            host.stop()
        log = host.log()
        for job_id in accepted:
            completed = re.findall(rf"job {job_id} completed", log)
            assert len(completed) == 1, f"job {job_id} completed {len(completed)} times"
        assert "already had a result" not in log, "a job ran to its end twice"
        assert "restarting it" not in log and "Traceback" not in log, log[-3000:]
