"""Waiting for a job to reach a state, through the HTTP API."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from dtq.client import ApiClient
from tests.support.processes import LocalHost

TERMINAL = frozenset({"completed", "failed", "cancelled"})


def wait_job(
    api: ApiClient | httpx.Client | LocalHost,
    job_id: str,
    until: set[str] | frozenset[str] | Callable[[dict[str, Any]], bool] = TERMINAL,
    timeout: float = 20.0,
) -> dict[str, Any]:
    """Poll ``GET /jobs/{id}`` until its state is in ``until`` (or ``until(job)`` holds);
    ``api`` is dtq's client, an httpx client whose base URL ends in ``/api/v1``, or the
    host itself."""
    done = until if callable(until) else (lambda job: job["state"] in until)
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if isinstance(api, ApiClient):
            job = api.get(job_id)
        elif isinstance(api, LocalHost):
            job = httpx.get(f"{api.base_url}/api/v1/jobs/{job_id}", timeout=10).json()
        else:
            job = api.get(f"/jobs/{job_id}").json()
        if done(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not get there in {timeout}s; last seen {job}")
