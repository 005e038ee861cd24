"""Fuzz the local host from its own OpenAPI document (schemathesis): no 5xx, responses
as documented, every error application/problem+json."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.e2e.conftest import module_host
from tests.support.processes import LocalHost

pytestmark = pytest.mark.e2e


fuzz_host = module_host("fuzz")

#: Operations whose bodies JSON Schema cannot describe whole: a schedule's cron
#: expression, time zone and job template are checked by the service, so a body valid
#: by the schema may still be a 422 (the other checks still apply to them).
SCHEMA_UNDERSTATES = {"POST /api/v1/schedules", "PATCH /api/v1/schedules/{schedule_id}"}


def operations() -> list[str]:
    from functions.openapi import document
    from shared.jobtypes import default_registry

    return [
        f"{method.upper()} {path}"
        for path, methods in document(default_registry())["paths"].items()
        for method in methods
    ]


@schemathesis.check
def errors_are_problem_json(ctx, response, case) -> None:  # type: ignore[no-untyped-def]
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/problem+json"), (
            f"{response.status_code} answered with {content_type!r}"
        )


@pytest.mark.parametrize("operation", operations())
def test_api_survives_generated_requests(operation: str, fuzz_host: LocalHost) -> None:
    """The document is fetched from the running host; each operation gets generated
    requests (valid and invalid), checked by schemathesis's default checks (no 5xx,
    status codes, content types and bodies as documented) and by the check above."""
    document = httpx.get(f"{fuzz_host.base_url}/api/v1/openapi.json").json()
    api = schemathesis.openapi.from_dict(document)
    method, path = operation.split(" ", 1)
    strategy = api[path][method].as_strategy()
    excluded = [positive_data_acceptance] if operation in SCHEMA_UNDERSTATES else []

    @given(case=strategy)
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def run(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(base_url=fuzz_host.base_url, excluded_checks=excluded)

    run()
