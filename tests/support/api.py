"""The one client the end-to-end tests speak through: dtq's own (``dtq/client.py``, what
the CLI uses), with what a test adds to it: a submit must be accepted (202), a job can be
waited for, and the raw HTTP beside it (``api.http``) for the requests whose status code,
headers or problem+json body a test checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from dtq.client import ApiClient
from tests.support.polling import TERMINAL, wait_job


class Api(ApiClient):
    """``ApiClient`` on ``{base_url}/api/v1``; ``api_key`` goes as a bearer token, other
    credentials (``X-API-Key``) as ``headers``."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ):
        super().__init__(base_url, api_key, timeout=timeout)
        self._http.headers.update(headers or {})
        auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        #: Raw HTTP on ``/api/v1`` with the same credentials: answers as they come, errors
        #: included, for the tests that check the answer itself.
        self.http = httpx.Client(
            base_url=f"{self.base_url}/api/v1", headers={**auth, **(headers or {})}, timeout=timeout
        )
        self.last: httpx.Response | None = None

    def __enter__(self) -> Api:
        return self

    def close(self) -> None:
        self.http.close()
        super().close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.last = super().request(method, path, **kwargs)
        return self.last

    def submit(self, job_type: str, payload: dict[str, Any], **options: Any) -> dict[str, Any]:
        """``ApiClient.submit``, and the job must be a new one (202 Accepted)."""
        job = super().submit(job_type, payload, **options)
        assert self.last is not None and self.last.status_code == 202, self.last and self.last.text
        return job

    def wait(
        self,
        job_id: str,
        until: set[str] | frozenset[str] | Callable[[dict[str, Any]], bool] = TERMINAL,
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        """The job once its state is in ``until`` (or ``until(job)`` holds)."""
        return wait_job(self, job_id, until, timeout)
