"""The webhook triggers called as the Functions host calls them: callback_url at submit
(one 422 naming the field), and each tenant's secret, seen and rotated by that tenant
only."""

from __future__ import annotations

import pytest

from functions import api, webhooks
from shared.composition import Runtime
from tests.support.triggers import as_json, request, user_function

submit_job = user_function(api.bp, "submit_job")
get_secret = user_function(webhooks.bp, "get_webhook_secret")
rotate_secret = user_function(webhooks.bp, "rotate_webhook_secret")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/hook", "http"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("https://example.com/" + "x" * 2100, "2048"),
    ],
)
async def test_a_callback_url_that_may_not_be_called_is_a_422_naming_it(
    runtime: Runtime, url: str, problem: str
) -> None:
    body = {"job_type": "echo", "payload": {"message": "hi"}, "callback_url": url}
    response = await submit_job(request("POST", "v1/jobs", body))
    assert response.status_code == 422, response.get_body()
    errors = as_json(response)["errors"]
    assert [e["field"] for e in errors] == ["callback_url"]
    assert problem in errors[0]["message"]


async def test_a_job_keeps_its_callback_url_or_its_tenants_default(runtime: Runtime) -> None:
    body = {"job_type": "echo", "payload": {"message": "hi"}}
    own = {**body, "callback_url": "https://hooks.example.com/a"}
    job = as_json(await submit_job(request("POST", "v1/jobs", own)))
    assert (job["callback_url"], job["webhook"]) == ("https://hooks.example.com/a", None)
    runtime.submissions.rules.callback_urls = {"local": "https://hooks.example.com/default"}
    job = as_json(await submit_job(request("POST", "v1/jobs", body)))
    assert job["callback_url"] == "https://hooks.example.com/default"


async def test_each_tenant_sees_and_rotates_its_own_secret_only(runtime: Runtime) -> None:
    _, acme = await runtime.access.create_key("acme")
    _, other = await runtime.access.create_key("other")

    async def secret(token: str) -> str:
        response = await get_secret(
            request("GET", "v1/webhooks/secret", headers={"X-API-Key": token})
        )
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        return str(as_json(response)["secret"])

    first, theirs = await secret(acme), await secret(other)
    assert first.startswith("whsec_") and first != theirs
    assert await secret(acme) == first
    rotated = await rotate_secret(
        request(
            "POST",
            "v1/webhooks/secret:rotate",
            {"keep_previous_seconds": 0},
            headers={"X-API-Key": acme},
        )
    )
    assert rotated.status_code == 200 and rotated.headers["Cache-Control"] == "no-store"
    new = as_json(rotated)
    # Kept 0 s: the replaced secret signs no more, and the answer says so.
    assert new["secret"] != first and new["previous_signs_until"] is None
    assert await secret(acme) == new["secret"]
    assert await secret(other) == theirs, "another tenant's secret is untouched"
    bad = await rotate_secret(
        request("POST", "v1/webhooks/secret:rotate", {"keep_previous_seconds": -1})
    )
    assert bad.status_code == 422
