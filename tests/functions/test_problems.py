"""The one table of HTTP status codes (functions/problems.py ``to_problem``)."""

from __future__ import annotations

import json

import pytest

from functions.problems import to_problem
from shared.errors import BackendUnavailable, StorageFull, TooLarge


def test_a_record_too_large_to_keep_is_413_not_503() -> None:
    response = to_problem(
        TooLarge("the job is 1,200,000 bytes; a status row keeps 950,000", 950_000)
    )

    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert "950,000" in json.loads(response.get_body())["detail"]


@pytest.mark.parametrize("retry_after", [1, 30])
def test_an_unavailable_backend_is_503_with_retry_after(retry_after: int) -> None:
    response = to_problem(BackendUnavailable("down", retry_after=retry_after))

    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(retry_after)


def test_a_full_disk_is_507_with_retry_after() -> None:
    response = to_problem(StorageFull("the job store's disk is full"))

    assert response.status_code == 507
    assert int(response.headers["Retry-After"]) > 0
