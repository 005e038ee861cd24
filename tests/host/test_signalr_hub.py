"""The local host's SignalR service (dtq/host/signalr.py), proved with a client nobody
here wrote: ``pysignalr`` from PyPI, which also talks to Azure SignalR Service. The
``negotiate`` function hands out the connection, ``push_job_events`` pushes through the
service's REST API, and tokens, origins and groups are held to Azure's rules."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import websockets
from pysignalr.client import SignalRClient

from tests.support.api import Api
from tests.support.processes import LocalHost, create_key, free_port, stop_in_background

KEY = base64.b64encode(b"k" * 32).decode()


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalHost, str, str]]:
    """A keyed local host whose SignalR key the test knows (a connection string naming the
    host's own service keeps its key), and API keys of two tenants."""
    data = Path(tmp_path_factory.mktemp("dtq-signalr"))
    port = free_port()
    env = {
        "DTQ_REQUIRE_API_KEYS": "true",
        "AzureSignalRConnectionString": (
            f"Endpoint=http://127.0.0.1:{port}/signalr;AccessKey={KEY};Version=1.0;"
        ),
    }
    key_a = create_key(data, "acme", env)
    key_b = create_key(data, "globex", env)
    running = LocalHost(data_dir=data, env=env, port=port).start()
    try:
        yield running, key_a, key_b
    finally:
        stop_in_background(running)


def negotiate(base: str, api_key: str, push_id: str) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/api/negotiate",
        headers={"Authorization": f"Bearer {api_key}", "x-dtq-push-id": push_id},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def sign(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, KEY.encode(), algorithm="HS256")


@contextlib.asynccontextmanager
async def listening(info: dict[str, Any]) -> AsyncIterator[list[dict[str, Any]]]:
    """A pysignalr client on the connection ``info`` names; the jobs it is pushed."""
    received: list[dict[str, Any]] = []
    opened = asyncio.Event()
    client = SignalRClient(info["url"], headers={"Authorization": f"Bearer {info['accessToken']}"})

    async def on_job(arguments: list[dict[str, Any]]) -> None:
        received.append(arguments[0])

    async def on_open() -> None:
        opened.set()

    client.on("jobUpdated", on_job)
    client.on_open(on_open)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(opened.wait(), 10)
        yield received
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_pysignalr_client_is_pushed_its_tenants_jobs_and_no_others(
    host: tuple[LocalHost, str, str],
) -> None:
    server, key_a, key_b = host
    info_a = negotiate(server.base_url, key_a, "tenant-a-listener-0001")
    info_b = negotiate(server.base_url, key_b, "tenant-b-listener-0001")
    assert info_a["group"] == "tenant-acme"
    assert info_a["url"] == f"{server.base_url}/signalr/client/?hub=dtq"
    async with listening(info_a) as jobs_a, listening(info_b) as jobs_b:
        with Api(server.base_url, key_a) as api:
            job = await asyncio.to_thread(api.submit, "simulate", {"duration_ms": 300, "steps": 3})
        await until(
            lambda: any(j["job_id"] == job["job_id"] and j["state"] == "completed" for j in jobs_a)
        )
        states = [j["state"] for j in jobs_a if j["job_id"] == job["job_id"]]
        assert states[-1] == "completed", states
        assert "payload" not in jobs_a[-1], "events are lean"
        await asyncio.sleep(0.5)
        assert jobs_b == [], "another tenant's client hears nothing"


async def test_the_service_refuses_bad_wrong_and_expired_tokens(
    host: tuple[LocalHost, str, str],
) -> None:
    server, key_a, _ = host
    base = server.base_url
    client_url = f"{base}/signalr/client/?hub=dtq"
    now = int(time.time())
    refused = {
        "bad signature": jwt.encode(
            {"aud": client_url, "exp": now + 60},
            b"another key of at least 32 bytes",
            algorithm="HS256",
        ),
        "wrong aud": sign({"aud": f"{base}/signalr/client/?hub=other", "exp": now + 60}),
        "expired": sign({"aud": client_url, "exp": now - 60}),
        "garbage": "not-a-jwt",
    }
    async with httpx.AsyncClient() as http:
        for why, token in refused.items():
            answer = await http.post(
                f"{base}/signalr/client/negotiate?hub=dtq&negotiateVersion=1",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 401, why
            with pytest.raises(websockets.InvalidStatus) as caught:
                async with websockets.connect(
                    f"ws://127.0.0.1:{server.port}/signalr/client/?hub=dtq&id=x&access_token={token}"
                ):
                    pass
            assert caught.value.response.status_code == 401, why
        good = negotiate(base, key_a, "tenant-a-listener-0002")["accessToken"]
        # a client token is no key to the REST API (its aud is the client URL)
        answer = await http.post(
            f"{base}/signalr/api/v1/hubs/dtq/groups/tenant-acme",
            headers={"Authorization": f"Bearer {good}"},
            json={"target": "jobUpdated", "arguments": [{}]},
        )
        assert answer.status_code == 401
        # nor to the batch the host's bindings send; a REST token is, for a list only
        batch = f"{base}/signalr/api/v1/hubs/dtq/:batch"
        message = {"target": "jobUpdated", "arguments": [{}], "groupName": "tenant-acme"}
        answer = await http.post(batch, headers={"Authorization": f"Bearer {good}"}, json=[message])
        assert answer.status_code == 401
        rest = {"Authorization": f"Bearer {sign({'aud': batch, 'exp': now + 60})}"}
        assert (await http.post(batch, headers=rest, json=message)).status_code == 400
        wrong = [message, {"action": "rename", "groupName": "g", "userId": "u"}]
        assert (await http.post(batch, headers=rest, json=wrong)).status_code == 400
        assert (await http.post(batch, headers=rest, json=[message])).status_code == 202
        # a good client token negotiates (negotiateVersion 1: a separate connection token)
        answer = await http.post(
            f"{base}/signalr/client/negotiate?hub=dtq&negotiateVersion=1",
            headers={"Authorization": f"Bearer {good}"},
        )
        assert answer.status_code == 200
        body = answer.json()
        assert body["negotiateVersion"] == 1 and body["connectionToken"] != body["connectionId"]
        assert body["availableTransports"] == [
            {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}
        ]


async def test_a_cross_site_websocket_is_refused_and_a_same_origin_one_shakes_hands(
    host: tuple[LocalHost, str, str],
) -> None:
    server, key_a, _ = host
    info = negotiate(server.base_url, key_a, "tenant-a-listener-0003")
    token = info["accessToken"]

    async def connect(origin: str) -> Any:
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                f"{server.base_url}/signalr/client/negotiate?hub=dtq&negotiateVersion=1",
                headers={"Authorization": f"Bearer {token}"},
            )
        conn = answer.json()["connectionToken"]
        url = f"ws://127.0.0.1:{server.port}/signalr/client/?hub=dtq&id={conn}&access_token={token}"
        return websockets.connect(url, origin=origin)  # type: ignore[arg-type]

    with pytest.raises(websockets.InvalidStatus) as caught:
        async with await connect("https://evil.example"):
            pass
    assert caught.value.response.status_code == 403
    async with await connect(server.base_url) as ws:
        await ws.send(json.dumps({"protocol": "messagepack", "version": 1}) + "\x1e")
        assert "error" in json.loads((await ws.recv()).rstrip("\x1e"))
    async with await connect(server.base_url) as ws:
        await ws.send(json.dumps({"protocol": "json", "version": 1}) + "\x1e")
        assert await ws.recv() == "{}\x1e"
        await ws.send('{"type":6}\x1e')  # a client ping is ignored
        await ws.send('{"type":7}\x1e')  # the client closes
