"""A Python client for dtq's HTTP API: what the ``dtq`` CLI speaks, and what a script
can use to submit and watch jobs on the local host or on a deployed function app.

    with ApiClient("http://127.0.0.1:7071", api_key=None) as api:
        job = api.submit("echo", {"message": "hi"})
        for job in api.watch(job["job_id"]):
            print(job["progress"], job["stage"])
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx

#: RFC 9457's media type, which the API's errors carry.
PROBLEM_JSON = "application/problem+json"

TERMINAL = frozenset({"completed", "failed", "cancelled"})

#: The longest wait between two reads while watching a job (seconds).
WATCH_MAX_INTERVAL = 2.0
#: How long each read of a watch asks the server to hold it (the server caps it at 60).
LONG_POLL_SECONDS = 25


@dataclass
class ApiProblem(Exception):
    """The API answered with an error (``application/problem+json``)."""

    status: int
    title: str
    detail: str = ""
    errors: list[dict[str, str]] = field(default_factory=list)
    retry_after: str | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.title}" + (f": {self.detail}" if self.detail else "")


class Unreachable(Exception):
    """No answer from the API (refused, timed out, DNS)."""

    def __init__(self, base_url: str, reason: str):
        super().__init__(f"cannot reach {base_url}: {reason}")
        self.base_url = base_url


class ApiClient:
    """Synchronous client of ``{base_url}/api/v1``; every call returns decoded JSON.

    ``api_key`` goes as ``Authorization: Bearer <key>``, or as ``X-API-Key: <key>`` with
    ``key_header="x-api-key"`` (the API accepts either, shared/access.py)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        key_header: Literal["bearer", "x-api-key"] = "bearer",
    ):
        if key_header not in ("bearer", "x-api-key"):
            raise ValueError(f"key_header must be 'bearer' or 'x-api-key', not {key_header!r}")
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": f"application/json, {PROBLEM_JSON}", "User-Agent": "dtq-cli"}
        if api_key and key_header == "x-api-key":
            headers["X-API-Key"] = api_key
        elif api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=f"{self.base_url}/api/v1",
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- transport ------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        accept: tuple[int, ...] = (),
        timeout: float | None = None,
    ) -> httpx.Response:
        """The response, or ApiProblem (4xx/5xx not in ``accept``) / Unreachable (no answer).
        ``timeout``: this request's, in place of the client's (a long-poll's is longer)."""
        query = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        limit = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        try:
            response = self._http.request(
                method, path, json=json, params=query, headers=headers, timeout=limit
            )
        except httpx.TransportError as exc:
            raise Unreachable(self.base_url, str(exc) or type(exc).__name__) from None
        if response.status_code >= 400 and response.status_code not in accept:
            raise _problem(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The answer's JSON object; ApiProblem for anything else (an empty body, a
        sign-in page, a redirect)."""
        response = self.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            kind = response.headers.get("content-type", "no content type")
            raise ApiProblem(
                response.status_code,
                "Unexpected answer",
                f"expected a JSON object from {method} {path}, got {kind}"
                + (" (a redirect: is the URL right?)" if 300 <= response.status_code < 400 else ""),
            )
        return body

    # --- jobs -------------------------------------------------------------------
    def submit(
        self,
        job_type: str,
        payload: dict[str, Any],
        *,
        priority: str | None = None,
        delay_seconds: float | None = None,
        scheduled_at: datetime | str | None = None,
        max_attempts: int | None = None,
        timeout_seconds: float | None = None,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
    ) -> dict[str, Any]:
        """Submit a job. ``scheduled_at`` (a datetime or an RFC 3339 string) or
        ``delay_seconds``, not both, start it later (the API refuses a naive datetime);
        ``callback_url`` gets a signed POST when it ends (docs/api.md)."""
        body: dict[str, Any] = {"job_type": job_type, "payload": payload}
        if isinstance(scheduled_at, datetime):
            scheduled_at = scheduled_at.isoformat()
        options = {
            "priority": priority,
            "delay_seconds": delay_seconds,
            "scheduled_at": scheduled_at,
            "max_attempts": max_attempts,
            "timeout_seconds": timeout_seconds,
            "callback_url": callback_url,
        }
        body.update({k: v for k, v in options.items() if v is not None})
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return dict(self._json("POST", "/jobs", json=body, headers=headers))

    def get(self, job_id: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/jobs/{job_id}"))

    def result(self, job_id: str) -> Any:
        return self._json("GET", f"/jobs/{job_id}/result").get("result")

    def jobs(
        self,
        *,
        state: str | None = None,
        job_type: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        params = {"state": state, "job_type": job_type, "limit": limit, "cursor": cursor}
        return dict(self._json("GET", "/jobs", params=params))

    def cancel(self, job_id: str) -> dict[str, Any]:
        return dict(self._json("DELETE", f"/jobs/{job_id}"))

    def webhook_secret(self, *, rotate: bool = False, keep: int | None = None) -> dict[str, Any]:
        """The tenant's webhook secret, or a new one (the old signs ``keep`` s more)."""
        if not rotate:
            return dict(self._json("GET", "/webhooks/secret"))
        body = {} if keep is None else {"keep_previous_seconds": keep}
        return dict(self._json("POST", "/webhooks/secret:rotate", json=body))

    def logs(self, job_id: str) -> dict[str, Any]:
        """The job's last log lines and its state: ``{"job_id", "state", "lines"}``."""
        return dict(self._json("GET", f"/jobs/{job_id}/logs"))

    def watch(
        self, job_id: str, *, interval: float = 0.25, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """The job each time it changes, until it is completed, failed or cancelled.

        A long-poll: each read names the copy it has (If-None-Match) and asks the server
        to wait for a change (``Prefer: wait=N``, docs/api.md), so a change arrives as
        soon as the server sees it. A server that does not wait (no Preference-Applied)
        is polled instead, the pause growing while nothing changes (up to 2 s). Raises
        TimeoutError after ``timeout`` seconds."""
        return self._follow(f"/jobs/{job_id}", f"job {job_id}", interval, timeout)

    def follow_logs(
        self, job_id: str, *, interval: float = 0.25, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """The job's logs (as :meth:`logs`) each time they or its state change, until the
        job is completed, failed or cancelled; read as :meth:`watch` reads the job."""
        return self._follow(f"/jobs/{job_id}/logs", f"job {job_id}", interval, timeout)

    def _follow(
        self, path: str, what: str, interval: float, timeout: float | None
    ) -> Iterator[dict[str, Any]]:
        """The body at ``path`` each time its ETag changes, until its state is terminal."""
        deadline = None if timeout is None else time.monotonic() + timeout
        etag: str | None = None
        delay = interval
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            wait = LONG_POLL_SECONDS if left is None else max(0, min(LONG_POLL_SECONDS, int(left)))
            headers = {"If-None-Match": etag, "Prefer": f"wait={wait}"} if etag else None
            response = self.request("GET", path, headers=headers, timeout=wait + 30.0)
            if response.status_code != 304:
                etag, delay = response.headers.get("ETag"), interval
                body = response.json()
                yield body
                if body["state"] in TERMINAL:
                    return
                continue  # the next read waits on the server, if it can
            waited = wait > 0 and "Preference-Applied" in response.headers
            if deadline is not None and time.monotonic() + (0 if waited else delay) > deadline:
                raise TimeoutError(f"{what} still running after {timeout} s")
            if not waited:
                time.sleep(delay)
                delay = min(delay * 1.5, WATCH_MAX_INTERVAL)

    # --- dead-letter queue ------------------------------------------------------
    def dead_letters(
        self, *, job_type: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        params = {"job_type": job_type, "limit": limit, "cursor": cursor}
        return dict(self._json("GET", "/dlq", params=params))

    def requeue(self, job_id: str, *, max_attempts: int | None = None) -> dict[str, Any]:
        body = {"max_attempts": max_attempts} if max_attempts else {}
        return dict(self._json("POST", f"/dlq/{job_id}/requeue", json=body))

    def requeue_matching(
        self,
        *,
        job_type: str | None = None,
        limit: int | None = None,
        max_attempts: int | None = None,
    ) -> dict[str, Any]:
        wanted = {"job_type": job_type, "limit": limit, "max_attempts": max_attempts}
        body = {k: v for k, v in wanted.items() if v is not None}
        return dict(self._json("POST", "/dlq/requeue", json=body))

    def purge(self, job_id: str) -> None:
        self.request("DELETE", f"/dlq/{job_id}")

    def purge_matching(
        self, *, job_type: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        body = {k: v for k, v in {"job_type": job_type, "limit": limit}.items() if v is not None}
        return dict(self._json("POST", "/dlq/purge", json=body))

    # --- the deployment ---------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return dict(self._json("GET", "/stats"))

    def health(self) -> dict[str, Any]:
        """The health report; a 503 (a backend down) is a report too, not an error."""
        return dict(self._json("GET", "/healthz", accept=(503,)))

    def job_types(self) -> list[dict[str, Any]]:
        return [*self._json("GET", "/job-types").get("items", [])]


def _problem(response: httpx.Response) -> ApiProblem:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return ApiProblem(
        status=response.status_code,
        title=str(body.get("title") or response.reason_phrase),
        detail=str(body.get("detail") or ""),
        errors=list(body.get("errors") or []),
        retry_after=response.headers.get("Retry-After"),
    )
