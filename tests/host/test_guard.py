"""The local host's doors against the browser beside it (dtq/host/guard.py): DNS
rebinding, cross-site request forgery, framing and sniffing, and malformed requests
that must be a 4xx, never a 500. The real app and web UI, over ASGI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import function_app
from dtq.host.catalog import build_catalog
from dtq.host.guard import LOOPBACK_NAMES, allowed_hosts, host_name
from dtq.host.web import create_web_app
from functions.runtime import install
from shared.composition import Runtime
from shared.settings import Settings
from tests.support.triggers import installed

ROOT = Path(__file__).resolve().parents[2]
BASE = "http://127.0.0.1:7071"
JOB = {"job_type": "echo", "payload": {"message": "hi"}}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings.load(None, data_dir=tmp_path)
    async with installed(Runtime.from_settings(settings)):
        web = create_web_app(
            build_catalog(function_app.create_app(), settings), "api", ROOT / "static-web"
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url=BASE) as c:
            yield c


async def jobs(client: httpx.AsyncClient) -> list[Any]:
    return list((await client.get("/api/v1/jobs")).json()["items"])


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


# -- DNS rebinding ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/jobs", "/", "/js/api.js"])
async def test_a_host_name_it_does_not_answer_to_is_421(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers={"Host": "rebind.attacker.example:7071"})

    assert "rebind.attacker.example" in problem(response, 421)["detail"]


async def test_a_rebound_name_cannot_submit(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/jobs", json=JOB, headers={"Host": "rebind.attacker.example:7071"}
    )

    problem(response, 421)
    assert await jobs(client) == []


@pytest.mark.parametrize("host", ["localhost:7071", "127.0.0.1:7071", "[::1]:7071", "LOCALHOST"])
async def test_loopback_names_are_served(client: httpx.AsyncClient, host: str) -> None:
    assert (await client.get("/api/v1/jobs", headers={"Host": host})).status_code == 200


def test_the_names_served() -> None:
    assert allowed_hosts("127.0.0.1", [""]) == LOOPBACK_NAMES
    assert allowed_hosts("0.0.0.0", ["dtq.lan", " Box "]) == LOOPBACK_NAMES | {"dtq.lan", "box"}
    assert "192.168.1.5" in (allowed_hosts("192.168.1.5", []) or set())
    assert allowed_hosts("127.0.0.1", ["*"]) is None
    assert [host_name(h) for h in ("[::1]:7071", "Example.org:80", "::1", "a")] == [
        "::1",
        "example.org",
        "::1",
        "a",
    ]


# -- cross-site request forgery -----------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://attacker.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost:3000"},  # another origin on the same machine
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": BASE},  # a lying Origin loses too
    ],
    ids=["other-site", "null", "other-port", "cross-site", "same-site"],
)
async def test_a_state_change_from_another_origin_is_403(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    submit = await client.post("/api/v1/jobs", json=JOB, headers=headers)
    purge = await client.post("/api/v1/dlq/purge", json={}, headers=headers)

    assert "may not change anything" in problem(submit, 403)["detail"]
    problem(purge, 403)
    assert await jobs(client) == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}],
    ids=["a-program", "the-ui", "typed"],
)
async def test_the_ui_and_programs_may_change_things(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post("/api/v1/jobs", json=JOB, headers=headers)

    assert response.status_code == 202, response.text


async def test_reads_from_another_origin_are_not_refused_by_the_guard(
    client: httpx.AsyncClient,
) -> None:
    # The browser keeps a cross-origin page from reading the answer (no CORS headers).
    response = await client.get("/api/v1/jobs", headers={"Origin": "https://attacker.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
async def test_a_body_that_is_not_declared_json_is_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    request = client.build_request("POST", "/api/v1/jobs", content=json.dumps(JOB), headers=headers)
    if content_type is None:
        request.headers.pop("Content-Type", None)

    response = await client.send(request)

    assert "application/json" in problem(response, 415)["detail"]
    assert await jobs(client) == []


# -- framing and sniffing -----------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/api/v1/jobs", "/api/v1/nothing", "/no-such-file.js"])
async def test_every_answer_carries_the_security_headers(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"


# -- malformed requests: a 4xx naming what is wrong, never a 500 ----------------------


async def test_missing_files_are_404_and_other_methods_405(client: httpx.AsyncClient) -> None:
    assert "/favicon.ico" in problem(await client.get("/favicon.ico"), 404)["detail"]
    problem(await client.get("/robots.txt"), 404)
    refused = await client.post("/", content=b"x", headers={"Content-Type": "text/plain"})
    assert problem(refused, 405) and refused.headers["allow"] == "GET, HEAD"
    problem(await client.delete("/index.html"), 405)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"job_type": "echo", "payload": {"message": "\\ud800"}}', "lone UTF-16 surrogate"),
        (b'{"job_type": "echo", "payload": {"message": "\\udfff x"}}', "lone UTF-16 surrogate"),
        (b'{"job_type": ', "not valid JSON"),
    ],
    ids=["deep", "high-surrogate", "low-surrogate", "cut"],
)
async def test_malformed_json_is_400(
    client: httpx.AsyncClient, body: bytes, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.post(
        "/api/v1/jobs", content=body, headers={"Content-Type": "application/json"}
    )

    assert words in problem(response, 400)["detail"]
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"


async def test_a_lone_surrogate_in_a_batch_is_400_not_a_failed_batch(
    client: httpx.AsyncClient,
) -> None:
    body = b'{"jobs": [{"job_type": "echo", "payload": {"message": "\\ud83d"}}]}'
    response = await client.post(
        "/api/v1/jobs:batch", content=body, headers={"Content-Type": "application/json"}
    )
    problem(response, 400)


async def test_a_paired_surrogate_is_text(client: httpx.AsyncClient) -> None:
    body = b'{"job_type": "echo", "payload": {"message": "\\ud83d\\ude00"}}'
    response = await client.post(
        "/api/v1/jobs", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202
    assert response.json()["payload"]["message"] == "\U0001f600"


async def test_a_body_that_does_not_arrive_in_time_is_408(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    import dtq.host.web

    monkeypatch.setattr(dtq.host.web, "BODY_TIMEOUT_SECONDS", 0.2)

    async def slow() -> AsyncIterator[bytes]:
        yield b'{"job_type": '
        await asyncio.sleep(5)
        yield b'"echo"}'

    response = await client.post(
        "/api/v1/jobs", content=slow(), headers={"Content-Type": "application/json"}
    )

    assert "0.2s" in problem(response, 408)["detail"]
    assert await jobs(client) == []


async def test_an_azure_only_function_is_answered_204_not_here(client: httpx.AsyncClient) -> None:
    # negotiate needs Azure SignalR Service: the UI learns "no push" without an error.
    response = await client.post("/api/negotiate", headers={"x-dtq-push-id": "a" * 20})

    assert response.status_code == 204
    assert "Azure only" in response.headers["x-dtq-not-served"]
    problem(await client.get("/api/negotiate"), 404)  # only the methods it declares


def _json_fragments() -> Any:
    """Bodies a hostile or broken client sends: raw bytes, cut JSON, lone surrogate
    escapes in any position, deep nesting, huge numbers, wrong shapes."""
    from hypothesis import strategies as st

    surrogate = st.integers(0xD800, 0xDFFF).map(lambda c: f"\\u{c:04x}")
    text = st.lists(st.one_of(st.text(max_size=5), surrogate), max_size=4).map("".join)
    valid = st.fixed_dictionaries(
        {"job_type": st.sampled_from(["echo", "simulate", "nope"]), "payload": st.just("P")}
    ).map(lambda d: json.dumps(d).replace('"P"', '{"message": "T"}'))
    return st.one_of(
        st.binary(max_size=64),
        st.tuples(valid, text).map(lambda v: v[0].replace("T", v[1]).encode()),
        st.tuples(valid, st.integers(1, 60)).map(lambda v: v[0][: v[1]].encode()),
        st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(1, 5_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
        st.sampled_from([b"1e99999", b"-0", b"null", b'"x"', b"[]", b"{}", b"\xff\xfe"]),
    )


def test_no_malformed_body_gets_a_500(tmp_path: Path) -> None:
    import asyncio

    from hypothesis import HealthCheck, given, settings

    loop = asyncio.new_event_loop()  # one loop for the app, its stores and the client
    app_settings = Settings.load(None, data_dir=tmp_path)
    rt = Runtime.from_settings(app_settings)
    install(rt)
    web = create_web_app(
        build_catalog(function_app.create_app(), app_settings), "api", ROOT / "static-web"
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url=BASE)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=_json_fragments())
    def check(body: bytes) -> None:
        for path in ("/api/v1/jobs", "/api/v1/jobs:batch", "/api/v1/dlq/requeue"):
            response = loop.run_until_complete(
                client.post(path, content=body, headers={"Content-Type": "application/json"})
            )
            assert response.status_code < 500, (path, body[:80], response.text)
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json"

    try:
        check()
    finally:
        install(None)
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(rt.close())
        loop.close()
