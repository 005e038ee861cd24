"""End to end: the local host in a subprocess, real HTTP, real worker processes."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.support.api import Api

pytestmark = pytest.mark.e2e


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_echo_round_trip(api: Api) -> None:
    response = api.http.post(
        "/jobs", json={"job_type": "echo", "payload": {"message": "hello dtq"}}
    )
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["state"] == "queued" and accepted["job_type"] == "echo"
    assert len(accepted["trace_id"]) == 32
    assert response.headers["location"] == f"/api/v1/jobs/{accepted['job_id']}"
    assert int(response.headers["retry-after"]) >= 1

    done = api.wait(accepted["job_id"], {"completed", "failed"})
    assert done["state"] == "completed"
    assert done["progress"] == 100 and done["attempt"] == 1 and done["error"] is None
    result = api.http.get(f"/jobs/{accepted['job_id']}/result")
    assert result.status_code == 200
    assert result.json()["result"] == {"message": "hello dtq"}


def test_progress_rises_to_100_while_running(api: Api) -> None:
    job = api.submit("simulate", {"duration_ms": 2000, "steps": 5})
    seen: list[int] = []
    states: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        current = api.get(job["job_id"])
        states.append(current["state"])
        if not seen or current["progress"] != seen[-1]:
            seen.append(current["progress"])
        if current["state"] == "completed":
            break
        time.sleep(0.05)
    assert states[-1] == "completed"
    assert "running" in states
    assert seen == sorted(seen), f"progress went backwards: {seen}"
    assert seen[-1] == 100
    assert len([p for p in seen if 0 < p < 100]) >= 2, f"too few progress steps seen: {seen}"
    result = api.result(job["job_id"])
    assert result == {"duration_ms": 2000, "steps": 5, "attempt": 1}


def test_transient_failure_is_retried_then_completes(api: Api) -> None:
    job = api.submit("simulate", {"duration_ms": 0, "fail_first": 2}, max_attempts=3)
    done = api.wait(job["job_id"], {"completed", "failed"})
    assert done["state"] == "completed" and done["attempt"] == 3
    assert [e["attempt"] for e in done["errors"]] == [1, 2]
    assert all(e["retryable"] for e in done["errors"])


def test_permanent_failure_fails_without_retry(api: Api) -> None:
    job = api.submit("simulate", {"duration_ms": 0, "fail_permanently": True})
    done = api.wait(job["job_id"], {"completed", "failed"})
    assert done["state"] == "failed" and done["attempt"] == 1
    assert done["error"]["retryable"] is False
    assert "permanent" in done["error"]["message"]
    assert_problem(api.http.get(f"/jobs/{job['job_id']}/result"), 404)


def test_result_is_404_until_completed(api: Api) -> None:
    job = api.submit("simulate", {"duration_ms": 1500, "steps": 3})
    assert_problem(api.http.get(f"/jobs/{job['job_id']}/result"), 404)
    api.wait(job["job_id"], {"completed"})
    assert api.http.get(f"/jobs/{job['job_id']}/result").status_code == 200


def test_etag_and_not_modified(api: Api) -> None:
    job = api.submit("echo", {"message": "etag"})
    api.wait(job["job_id"], {"completed"})
    first = api.http.get(f"/jobs/{job['job_id']}")
    etag = first.headers["etag"]
    again = api.http.get(f"/jobs/{job['job_id']}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = api.http.get(f"/jobs/{job['job_id']}", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200 and other.json()["job_id"] == job["job_id"]


def test_collections_answer_304_until_they_change(api: Api) -> None:
    """The list, the DLQ and the stats carry content ETags, so the UI's polls are cheap."""
    first = api.http.get("/jobs", params={"job_type": "echo"})
    etag = first.headers["etag"]
    assert (
        api.http.get(
            "/jobs", params={"job_type": "echo"}, headers={"If-None-Match": etag}
        ).status_code
        == 304
    )
    job = api.submit("echo", {"message": "list etag"})
    changed = api.http.get("/jobs", params={"job_type": "echo"}, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["items"][0]["job_id"] == job["job_id"]
    dlq = api.http.get("/dlq")
    assert api.http.get("/dlq", headers={"If-None-Match": dlq.headers["etag"]}).status_code == 304
    # Stats change with worker heartbeats too; two reads in a row usually agree.
    answers = []
    for _ in range(3):
        etag = api.http.get("/stats").headers["etag"]
        answers.append(api.http.get("/stats", headers={"If-None-Match": etag}).status_code)
    assert 304 in answers, answers


def test_list_is_newest_first_with_cursor_paging(api: Api) -> None:
    ids = [api.submit("echo", {"message": f"page {i}"})["job_id"] for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        page = api.jobs(job_type="echo", limit=3, cursor=cursor)
        seen += [j["job_id"] for j in page["items"]]
        assert len(page["items"]) <= 3
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)), "a job appeared on two pages"
    assert seen == sorted(seen, reverse=True), "not newest first"
    # The seven new jobs are the newest echo jobs, in reverse submission order.
    assert seen[:7] == list(reversed(ids))


def test_list_filters_by_state(api: Api) -> None:
    job = api.submit("simulate", {"duration_ms": 0, "fail_permanently": True})
    api.wait(job["job_id"], {"failed"})
    failed = api.jobs(state="failed", limit=500)["items"]
    assert job["job_id"] in [j["job_id"] for j in failed]
    assert {j["state"] for j in failed} == {"failed"}
    body = assert_problem(api.http.get("/jobs", params={"state": "nonsense"}), 422)
    assert body["errors"][0]["field"] == "state"


def test_bad_input_gets_problem_json(api: Api) -> None:
    body = assert_problem(
        api.http.post("/jobs", content=b"{not json", headers={"content-type": "application/json"}),
        400,
    )
    assert "JSON" in body["detail"]

    body = assert_problem(api.http.post("/jobs", json={"job_type": "nope", "payload": {}}), 422)
    assert body["errors"][0]["field"] == "job_type"
    assert "echo" in body["detail"] and "simulate" in body["detail"]

    body = assert_problem(api.http.post("/jobs", json={"job_type": "echo", "payload": {}}), 422)
    assert body["errors"][0]["field"] == "payload.message"

    body = assert_problem(
        api.http.post("/jobs", json={"job_type": "simulate", "payload": {"duration_ms": -1}}), 422
    )
    assert body["errors"][0]["field"] == "payload.duration_ms"

    body = assert_problem(
        api.http.post(
            "/jobs", json={"job_type": "echo", "payload": {"message": "x"}, "max_attempts": 0}
        ),
        422,
    )
    assert body["errors"][0]["field"] == "max_attempts"

    big = {"job_type": "echo", "payload": {"message": "x" * (300 * 1024)}}
    assert_problem(api.http.post("/jobs", json=big), 413)
    assert_problem(api.http.get("/jobs/01nonexistent"), 404)
    assert_problem(api.http.get("/jobs", params={"limit": "abc"}), 422)
    assert_problem(api.http.put("/jobs"), 405)


def test_cancel_of_a_finished_job_is_409(api: Api) -> None:
    job = api.submit("echo", {"message": "done"})
    api.wait(job["job_id"], {"completed"})
    assert_problem(api.http.delete(f"/jobs/{job['job_id']}"), 409)
    assert api.get(job["job_id"])["state"] == "completed"


def test_job_types_publish_their_schemas(api: Api) -> None:
    types = {t["job_type"]: t for t in api.job_types()}
    assert {"echo", "simulate"} <= set(types)
    simulate = types["simulate"]["payload_schema"]
    assert simulate["required"] == ["duration_ms"]
    assert simulate["properties"]["steps"]["minimum"] == 1


def test_health_reports_each_backend(api: Api) -> None:
    health = api.health()
    assert health["ok"] is True
    assert set(health["checks"]) == {
        "status_store",
        "result_store",
        "job_queue_high",
        "job_queue_normal",
        "job_queue_low",
    }


def test_the_web_page_and_its_assets_are_served(host) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=host.base_url, timeout=10) as web:
        page = web.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<meta name="dtq-api-base" content="/api">' in page.text
        for asset, kind in (("/app.js", "javascript"), ("/style.css", "text/css")):
            response = web.get(asset)
            assert response.status_code == 200 and kind in response.headers["content-type"]
            assert "http://" not in response.text and "https://" not in response.text, (
                f"{asset} must not load anything from another origin"
            )
        assert web.get("/api/nothing-here").status_code == 404


def test_batch_submit_accepts_each_valid_job_and_refuses_each_invalid_one(
    api: Api,
) -> None:
    jobs = [{"job_type": "echo", "payload": {"message": f"b{i}"}} for i in range(5)]
    response = api.http.post("/jobs:batch", json={"jobs": jobs})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (5, 0)
    assert [i["index"] for i in body["items"]] == list(range(5))
    assert [i["job"]["payload"]["message"] for i in body["items"]] == [f"b{i}" for i in range(5)]
    for item in body["items"]:
        assert item["status"] == 202
        assert api.wait(item["job"]["job_id"])["state"] == "completed"

    mixed = [
        jobs[0],
        {"job_type": "echo", "payload": {}},
        {"job_type": "nope"},
        {"job_type": "echo", "payload": {"message": "x"}, "max_attempts": 0},
        jobs[1],
    ]
    body = api.http.post("/jobs:batch", json={"jobs": mixed}).json()
    assert (body["accepted"], body["rejected"]) == (2, 3)
    statuses = [(i["index"], i["status"]) for i in body["items"]]
    assert statuses == [(0, 202), (1, 422), (2, 422), (3, 422), (4, 202)]
    assert body["items"][1]["errors"][0]["field"] == "payload.message"
    assert body["items"][2]["errors"][0]["field"] == "job_type"
    assert body["items"][3]["errors"][0]["field"] == "max_attempts"
    for index in (0, 4):
        job_id = body["items"][index]["job"]["job_id"]
        assert api.wait(job_id)["state"] == "completed", "valid items run"

    assert_problem(api.http.post("/jobs:batch", json={"jobs": []}), 422)
    assert_problem(api.http.post("/jobs:batch", json={"jobs": jobs * 21}), 422)
    assert_problem(api.http.post("/jobs:batch", json={"jobs": [1, 2]}), 422)
