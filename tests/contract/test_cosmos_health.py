"""The Cosmos DB result store's health ping, request by request against the Cosmos
server: after the container is opened once, each ping is one point read of an item,
never a read of the container's metadata (Cosmos DB throttles metadata requests on
their own, far below data requests)."""

from __future__ import annotations

import uuid
from typing import Any

from azure.cosmos.aio import CosmosClient

from shared.adapters.azure.connections import parse_cosmos_connection_string
from shared.adapters.azure.cosmos_results import CosmosResultStore
from tests.support.emulators import CosmosServer


async def test_each_health_ping_is_one_point_read(cosmos_server: CosmosServer) -> None:
    seen: list[tuple[str, str]] = []

    def hook(response: Any) -> None:
        seen.append((response.http_request.method, response.http_request.url))

    endpoint, key = parse_cosmos_connection_string(cosmos_server.connection_string)
    client = CosmosClient(
        endpoint, credential=key, enable_endpoint_discovery=False, raw_response_hook=hook
    )
    store = CosmosResultStore(
        client, "dtq", "c" + uuid.uuid4().hex[:12], ttl_seconds=60, create_if_missing=True
    )
    try:
        await store.put("j1", "t1", {"ok": True})  # opens (creates) the container once
        seen.clear()
        for _ in range(3):
            await store.ping()
        assert len(seen) == 3, seen
        for method, url in seen:
            path = url.split("?")[0].rstrip("/")
            assert method == "GET" and "/docs/" in path, f"not a point read: {method} {url}"
    finally:
        await store.close()
