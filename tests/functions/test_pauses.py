"""The pause triggers called as the Functions host calls them: the operator pauses and
resumes a job type or a priority for every tenant or for one; a tenant's key pauses and
resumes its own jobs only, and sees what holds them (also in its stats), never another
tenant's pauses (403 to act on one); bad targets are 422s naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from functions import api, pauses
from shared.composition import Runtime
from tests.support.triggers import as_json, request, user_function

pause = user_function(pauses.bp, "pause")
resume = user_function(pauses.bp, "resume")
list_all = user_function(pauses.bp, "list_pauses")
stats = user_function(api.bp, "stats")


def delete(kind: str, value: str, **kw: Any) -> Any:
    url = f"v1/pauses/{kind}/{value}"
    return request("DELETE", url, route_params={"kind": kind, "value": value}, **kw)


@pytest.fixture
async def keys(runtime: Runtime) -> dict[str, dict[str, str]]:
    """Headers of an operator key and of a tenant's key, on a host that requires keys."""
    access = runtime.access
    access.require_keys = True
    ops, ops_token = await access.create_key("ops")
    _, tenant_token = await access.create_key("acme")
    access.operator_keys = frozenset({ops.key_id})
    return {"operator": {"X-API-Key": ops_token}, "tenant": {"X-API-Key": tenant_token}}


async def test_the_operator_pauses_and_resumes_a_job_type(
    runtime: Runtime, keys: dict[str, dict[str, str]]
) -> None:
    op = keys["operator"]
    body = {"job_type": "echo", "reason": "upstream maintenance"}
    made = await pause(request("POST", "v1/pauses", body, headers=op))
    assert made.status_code == 201, made.get_body()
    assert made.headers["Location"] == "/api/v1/pauses/job_type/echo"
    made_body = as_json(made)
    assert (made_body["kind"], made_body["value"]) == ("job_type", "echo")
    assert made_body["reason"] == "upstream maintenance" and made_body["by"]
    again = await pause(request("POST", "v1/pauses", {"job_type": "echo"}, headers=op))
    assert again.status_code == 200 and as_json(again)["since"] == made_body["since"]
    low = await pause(request("POST", "v1/pauses", {"priority": "low"}, headers=op))
    assert low.status_code == 201

    for who in ("operator", "tenant"):  # every tenant sees what holds its jobs
        listed = as_json(await list_all(request("GET", "v1/pauses", headers=keys[who])))
        assert [(p["kind"], p["value"]) for p in listed["items"]] == [
            ("priority", "low"),
            ("job_type", "echo"),
        ]
        seen = as_json(await stats(request("GET", "v1/stats", headers=keys[who])))
        assert {p["value"] for p in seen["pauses"]} == {"low", "echo"}

    ended = await resume(delete("job_type", "echo", headers=op))
    assert ended.status_code == 200 and as_json(ended)["resumed"] is True
    gone = await resume(delete("job_type", "echo", headers=op))
    assert gone.status_code == 404
    listed = as_json(await list_all(request("GET", "v1/pauses", headers=op)))
    assert [p["value"] for p in listed["items"]] == ["low"]


async def test_a_tenant_pauses_and_resumes_its_own_jobs_only(
    runtime: Runtime, keys: dict[str, dict[str, str]]
) -> None:
    tenant, op = keys["tenant"], keys["operator"]
    mine = await pause(request("POST", "v1/pauses", {"job_type": "echo"}, headers=tenant))
    assert mine.status_code == 201, mine.get_body()
    assert as_json(mine)["tenant"] == "acme"
    assert mine.headers["Location"] == "/api/v1/pauses/job_type/echo?tenant=acme"
    named = {"job_type": "echo", "tenant": "acme"}
    again = await pause(request("POST", "v1/pauses", named, headers=tenant))
    assert again.status_code == 200, "naming itself is the same pause"
    for body in ({"job_type": "echo", "tenant": "umbrella"},):
        refused = await pause(request("POST", "v1/pauses", body, headers=tenant))
        assert refused.status_code == 403, refused.get_body()
        assert "operator" in as_json(refused)["detail"]
    assert runtime.pauses is not None
    assert [p.tenant for p in await runtime.pauses.listed("acme")] == ["acme"]
    assert await runtime.pauses.listed() == [], "nothing holds every tenant's jobs"

    # The operator holds another tenant's high-priority jobs and every tenant's low ones.
    theirs = {"priority": "high", "tenant": "umbrella"}
    assert (await pause(request("POST", "v1/pauses", theirs, headers=op))).status_code == 201
    assert (
        await pause(request("POST", "v1/pauses", {"priority": "low"}, headers=op))
    ).status_code == 201
    seen = as_json(await list_all(request("GET", "v1/pauses", headers=tenant)))
    assert [(p["value"], p["tenant"]) for p in seen["items"]] == [("low", None), ("echo", "acme")]
    spying = await list_all(
        request("GET", "v1/pauses", params={"tenant": "umbrella"}, headers=tenant)
    )
    assert spying.status_code == 403
    checked = as_json(
        await list_all(request("GET", "v1/pauses", params={"tenant": "umbrella"}, headers=op))
    )
    assert ("high", "umbrella") in [(p["value"], p["tenant"]) for p in checked["items"]]
    stats_seen = as_json(await stats(request("GET", "v1/stats", headers=tenant)))
    assert [(p["value"], p["tenant"]) for p in stats_seen["pauses"]] == [
        ("low", None),
        ("echo", "acme"),
    ]

    for kind, value, params in (
        ("priority", "low", {}),
        ("priority", "high", {"tenant": "umbrella"}),
    ):
        refused = await resume(delete(kind, value, params=params, headers=tenant))
        assert refused.status_code in (403, 404), refused.get_body()
    assert len(await runtime.pauses.listed("umbrella")) == 2, "both still in force"
    ended = await resume(delete("job_type", "echo", headers=tenant))
    assert ended.status_code == 200 and as_json(ended)["tenant"] == "acme"
    assert await runtime.pauses.listed("acme") == await runtime.pauses.listed()
    bad = await list_all(request("GET", "v1/pauses", params={"tenant": "a/b"}, headers=op))
    assert bad.status_code == 422
    anonymous = await list_all(request("GET", "v1/pauses"))
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"job_type": "no-such-type"}, "job_type"),
        ({"priority": "urgent"}, "priority"),
        ({}, "body"),
        ({"job_type": "echo", "priority": "low"}, "body"),
        ({"job_type": "echo", "until": 5}, "until"),
    ],
)
async def test_a_bad_pause_is_a_422_naming_the_field(
    runtime: Runtime, body: dict[str, Any], field: str
) -> None:
    answer = await pause(request("POST", "v1/pauses", body))  # the keyless operator
    assert answer.status_code == 422, answer.get_body()
    assert field in [e["field"] for e in as_json(answer)["errors"]]
    unknown = await resume(delete("job_type", "no-such-type"))
    assert unknown.status_code == 404, "a path naming no job type names no pause"
    assert (await resume(delete("queue", "x"))).status_code == 404
