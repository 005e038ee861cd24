"""Job logs on the local host, as a user follows them: ``dtq logs JOB --follow`` prints a
simulate job's lines while it runs (``HH:MM:SS.mmm message``) and exits as ``dtq watch``
does; the API has the same lines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ROOT, LocalHost, running_host

pytestmark = pytest.mark.e2e

LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (.*)$")


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    with running_host(Path(tmp_path_factory.mktemp("dtq-logs")), background_stop=True) as local:
        yield local


def dtq(host: LocalHost, *args: str) -> tuple[list[str], dict[str, str]]:
    """The command line of ``dtq ARGS`` against ``host``, and its environment."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DTQ_")}
    environment.update(DTQ_CONFIG="/nonexistent/dtq.toml", DTQ_URL=host.base_url)
    return [sys.executable, "-m", "dtq.cli", *args], environment


def submit(host: LocalHost, payload: dict[str, object], attempts: int = 3) -> str:
    response = httpx.post(
        f"{host.base_url}/api/v1/jobs",
        json={"job_type": "simulate", "payload": payload, "max_attempts": attempts},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def test_follow_prints_a_simulate_jobs_lines_while_it_runs(host: LocalHost) -> None:
    job_id = submit(host, {"duration_ms": 4000, "steps": 4})
    command, environment = dtq(host, "logs", job_id, "--follow")
    began = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    arrivals: list[tuple[float, str]] = []
    for raw in proc.stdout:
        matched = LINE.match(raw.rstrip("\n"))
        assert matched, f"not HH:MM:SS.mmm message: {raw!r}"
        arrivals.append((time.monotonic() - began, matched.group(1)))
    code = proc.wait(timeout=60)
    assert code == 0, proc.stderr.read() if proc.stderr else ""
    messages = [m for _, m in arrivals]
    assert messages == [
        "attempt 1: 4 step(s) of 1000 ms",
        *(f"step {i} of 4 done" for i in range(1, 5)),
    ]
    ended = time.monotonic() - began
    first_step = next(t for t, m in arrivals if m == "step 1 of 4 done")
    assert first_step < ended - 1.5, "a line shows while the job runs, not at its end"

    body = httpx.get(f"{host.base_url}/api/v1/jobs/{job_id}/logs").json()
    assert body["state"] == "completed" and [x["message"] for x in body["lines"]] == messages


def test_follow_exits_as_watch_does_and_json_prints_json_lines(host: LocalHost) -> None:
    job_id = submit(host, {"duration_ms": 10, "fail_permanently": True}, attempts=1)
    command, environment = dtq(host, "logs", job_id, "--follow", "--json")
    done = subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done.stderr
    [line] = [json.loads(x) for x in done.stdout.splitlines()]
    assert line["message"] == "failing for good, as fail_permanently asks" and line["at"]

    command, environment = dtq(host, "logs", "01jq3v5k8m2x7c9d4f6g8h0j1k")
    missing = subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 4 and "not found" in missing.stderr.lower()
