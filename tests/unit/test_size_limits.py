"""The Azure services' own size refusals (Table storage's 400s, Cosmos DB's 413) are
TooLarge, a permanent error, not BackendUnavailable (which the API answers with 503 and
the worker retries)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from shared.adapters.azure.errors import translated
from shared.errors import TooLarge


def _refusal(status: int, code: str | None) -> HttpResponseError:
    """An SDK error as azure-core builds it from a response with ``x-ms-error-code``."""

    class Response:
        status_code = status
        reason = "Bad Request" if status == 400 else "Request Entity Too Large"
        headers = {"x-ms-error-code": code} if code else {}

        def text(self) -> str:
            return ""

    return HttpResponseError(message="refused", response=Response())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "EntityTooLarge"),
        (400, "PropertyValueTooLarge"),
        (400, "RequestBodyTooLarge"),
        (413, "RequestEntityTooLarge"),  # Cosmos DB: an item over 2 MB
        (413, None),
    ],
)
def test_size_refusals_are_too_large_not_unavailable(status: int, code: str | None) -> None:
    with pytest.raises(TooLarge) as raised, translated("result of job j1"):
        raise _refusal(status, code)
    assert "result of job j1" in str(raised.value)


def test_other_bad_requests_are_not_too_large() -> None:
    with pytest.raises(Exception) as raised, translated("job j1"):
        raise _refusal(400, "InvalidInput")
    assert not isinstance(raised.value, TooLarge)
