"""Start the real servers tests need on free loopback ports; stop them by pid."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM, wait, then SIGKILL: the process is gone when this returns."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


#: Tests never reach the internet: unless a test points them at its fake provider server,
#: the provider job types call a loopback port where nothing listens.
NO_INTERNET = {
    f"DTQ_{name}": "http://127.0.0.1:9"
    for name in (
        "WEATHER_GEOCODING_URL",
        "WEATHER_FORECAST_URL",
        "QUOTE_API_URL",
        "EXCHANGE_RATE_API_URL",
        "GITHUB_API_URL",
    )
}


@dataclass
class LocalHost:
    """``dtq serve`` in a subprocess on a free loopback port."""

    data_dir: Path
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    #: In a session of its own, as a terminal runs it (its process group is the foreground).
    new_session: bool = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "DTQ_DATA_DIR": str(self.data_dir),
            "DTQ_SHUTDOWN_GRACE_SECONDS": "2",
            **NO_INTERNET,
            **self.env,
        }

    def start(self, timeout: float = 30.0) -> LocalHost:
        self.log_path = self.data_dir / f"serve-{self.port}.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dtq.cli",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--app-dir",
                str(ROOT),
            ],
            cwd=ROOT,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=self.new_session,
        )
        wait_healthy(self.base_url, self.proc, timeout, self.log_path)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""


#: Hosts being stopped on threads of their own (``stop_in_background``).
_STOPPING: list[threading.Thread] = []


def stop_in_background(host: LocalHost) -> None:
    """``host.stop()`` on a thread, so the suite goes on while the host shuts down (a
    second or two, mostly spent waiting for its workers to exit). Only for a host nothing
    looks at once it is stopped (its log, its data); ``wait_for_stopped_hosts`` waits for
    every such stop (tests/conftest.py calls it before an emulator stops and at the end)."""
    thread = threading.Thread(target=host.stop, name=f"stop dtq serve :{host.port}")
    thread.start()
    _STOPPING.append(thread)


def wait_for_stopped_hosts() -> None:
    """Until every host handed to ``stop_in_background`` is gone."""
    while _STOPPING:
        _STOPPING.pop().join()


@contextmanager
def running_host(
    data_dir: Path,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    background_stop: bool = False,
) -> Iterator[LocalHost]:
    """A local host on a free port for the block, stopped (by pid) after it; with
    ``background_stop``, stopped by ``stop_in_background`` (for a fixture's host, which
    nothing reads after the block)."""
    host = LocalHost(data_dir=data_dir, workers=workers, env=dict(env or {})).start()
    try:
        yield host
    finally:
        if background_stop:
            stop_in_background(host)
        else:
            host.stop()


def wait_healthy(
    base_url: str, proc: subprocess.Popen[bytes], timeout: float, log_path: Path | None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log_path.read_text() if log_path else ""
            raise RuntimeError(f"dtq serve exited with {proc.returncode}:\n{text}")
        try:
            if httpx.get(f"{base_url}/api/v1/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_process(proc)
    raise RuntimeError(f"dtq serve did not become healthy within {timeout}s")


def start_worker(data_dir: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """One ``dtq worker`` process on ``data_dir``."""
    log = (data_dir / "worker.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "dtq.cli", "worker", "--app-dir", str(ROOT)],
        cwd=ROOT,
        env={**os.environ, "DTQ_DATA_DIR": str(data_dir), **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def run_dtq(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """``dtq ARGS --data-dir DATA_DIR`` in a child process; its output (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-m", "dtq.cli", *args, "--data-dir", str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def create_key(data_dir: Path, tenant: str, env: dict[str, str] | None = None) -> str:
    """The token of a new API key for ``tenant`` (``dtq keys create`` on that data)."""
    created = run_dtq(data_dir, "keys", "create", "--tenant", tenant, "--json", env=env)
    return str(json.loads(created)["token"])


#: The messages of the job queues in the embedded database (not the events queue's, which
#: the live-update push drains on its own time).
JOB_MESSAGES = "SELECT COUNT(*) FROM queue_messages WHERE queue LIKE 'dtq-jobs%'"
