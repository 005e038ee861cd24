"""The schedule triggers called as the Functions host calls them: create (the template
validated against its job type, cron and zone checked, each a 422 naming the field),
read with the next fire times and the jobs made, list, change under If-Match, pause,
resume and delete, each tenant seeing its own only; and the timer making the jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from functions import schedules
from shared.composition import Runtime
from tests.support.triggers import as_json, request, user_function

create = user_function(schedules.bp, "create_schedule")
list_all = user_function(schedules.bp, "list_schedules")
get = user_function(schedules.bp, "get_schedule")
update = user_function(schedules.bp, "update_schedule")
delete = user_function(schedules.bp, "delete_schedule")
action = user_function(schedules.bp, "schedule_action")
fire = user_function(schedules.bp, "fire_schedules")

TEMPLATE = {"job_type": "echo", "payload": {"message": "tick"}}


def route(method: str, sid: str, body: Any = None, **kw: Any) -> Any:
    return request(method, f"v1/schedules/{sid}", body, route_params={"schedule_id": sid}, **kw)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"template": {"job_type": "nope"}}, "template.job_type"),
        ({"template": {"job_type": "echo", "payload": {"message": 5}}}, "template.payload.message"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "*/10 * * * * *"}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"cron": None, "interval_seconds": 30}, "interval_seconds"),
        ({"cron": None}, "body"),
        ({"end_at": "2020-01-01T00:00:00Z", "start_at": "2021-01-01T00:00:00Z"}, "end_at"),
    ],
)
async def test_an_invalid_schedule_is_a_422_naming_the_field(
    runtime: Runtime, changes: dict[str, Any], field: str
) -> None:
    body = {"name": "n", "cron": "0 * * * *", "template": TEMPLATE, **changes}
    response = await create(request("POST", "v1/schedules", body))
    assert response.status_code == 422, response.get_body()
    fields = [e["field"] for e in as_json(response)["errors"]]
    assert any(f == field or f.startswith(field) for f in fields), fields


@pytest.mark.filterwarnings("error::UserWarning")  # e.g. pydantic serializing a dict
async def test_a_schedules_life_through_the_api(runtime: Runtime) -> None:
    body = {"name": "nightly", "cron": "30 1 * * *", "timezone": "Europe/London"}
    created = await create(request("POST", "v1/schedules", {**body, "template": TEMPLATE}))
    assert created.status_code == 201, created.get_body()
    s = as_json(created)
    sid = s["schedule_id"]
    assert created.headers["Location"] == f"/api/v1/schedules/{sid}"
    assert (s["misfire"], s["overlap"], s["paused"]) == ("skip", "allow", False)
    assert s["next_fire_at"].endswith("Z") and "tenant_id" not in s

    got = await get(route("GET", sid, params={"preview": "3"}))
    detail = as_json(got)
    assert len(detail["next_fire_times"]) == 3 and detail["jobs"] == []
    assert detail["next_fire_times"][0] == s["next_fire_at"]

    stale = got.headers["ETag"]
    changed = await update(route("PATCH", sid, {"cron": None, "interval_seconds": 3600}))
    assert changed.status_code == 200, changed.get_body()
    assert as_json(changed)["interval_seconds"] == 3600 and as_json(changed)["cron"] is None
    refused = await update(route("PATCH", sid, {"name": "x"}, headers={"If-Match": stale}))
    assert refused.status_code == 412
    template = {"job_type": "echo", "payload": {"message": "new"}, "priority": "low"}
    current = changed.headers["ETag"]
    retemplated = await update(
        route("PATCH", sid, {"template": template}, headers={"If-Match": current})
    )
    assert as_json(retemplated)["template"]["payload"] == {"message": "new"}
    assert as_json(retemplated)["next_fire_at"] == as_json(changed)["next_fire_at"], "not moved"
    wrong = await update(route("PATCH", sid, {"template": {"job_type": "echo", "payload": {}}}))
    assert [e["field"] for e in as_json(wrong)["errors"]] == ["template.payload.message"]

    paused = as_json(await action(route("POST", f"{sid}:pause")))
    assert paused["paused"] and paused["next_fire_at"] is None
    resumed = as_json(await action(route("POST", f"{sid}:resume")))
    assert not resumed["paused"] and resumed["next_fire_at"]
    assert (await action(route("POST", f"{sid}:explode"))).status_code == 404

    listed = as_json(await list_all(request("GET", "v1/schedules")))
    assert [i["schedule_id"] for i in listed["items"]] == [sid]
    assert (await delete(route("DELETE", sid))).status_code == 204
    assert (await get(route("GET", sid))).status_code == 404


async def test_a_tenant_sees_and_changes_its_own_schedules_only(runtime: Runtime) -> None:
    _, acme = await runtime.access.create_key("acme")
    _, other = await runtime.access.create_key("other")
    body = {"name": "n", "interval_seconds": 600, "template": TEMPLATE}
    made = await create(request("POST", "v1/schedules", body, headers={"X-API-Key": acme}))
    sid = as_json(made)["schedule_id"]
    theirs = {"headers": {"X-API-Key": other}}
    assert (await get(route("GET", sid, **theirs))).status_code == 404
    assert (await update(route("PATCH", sid, {"name": "mine"}, **theirs))).status_code == 404
    assert (await delete(route("DELETE", sid, **theirs))).status_code == 404
    assert (await action(route("POST", f"{sid}:pause", **theirs))).status_code == 404
    assert as_json(await list_all(request("GET", "v1/schedules", **theirs)))["items"] == []


async def test_the_timer_makes_the_due_jobs_which_the_schedule_lists(runtime: Runtime) -> None:
    made = as_json(
        await create(
            request(
                "POST", "v1/schedules", {"name": "n", "cron": "* * * * *", "template": TEMPLATE}
            )
        )
    )
    assert runtime.schedules is not None
    later = runtime.schedules.ticks
    due_at = runtime.schedules.clock() + timedelta(minutes=1, seconds=1)
    later.clock = lambda: due_at
    await fire(timer=TimerRequest(past_due=False))
    detail = as_json(await get(route("GET", made["schedule_id"])))
    [job] = detail["jobs"]
    assert job["outcome"] == "submitted" and job["tick_at"] == made["next_fire_at"]
    assert detail["last_job_id"] == job["job_id"]
    assert (await runtime.status.get("local", job["job_id"])).payload == {"message": "tick"}
