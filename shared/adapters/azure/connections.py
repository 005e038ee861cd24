"""Clients for the Azure services, from connection settings named as Azure Functions names
them: a connection string, or identity-based settings with ``DefaultAzureCredential``."""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

from shared.net import is_loopback_url
from shared.settings_groups import Connection
from shared.usage import Usage

#: Fail fast when a service is down, so the API can answer 503 quickly; the SDKs'
#: defaults retry for tens of seconds.
CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 2,
    "retry_backoff_factor": 0.2,
    "retry_backoff_max": 2,
    "connection_timeout": 5,
    "read_timeout": 20,
}


#: This process's credentials, one per identity (user-assigned client id, or None) and
#: event loop: an asyncio credential's HTTP session belongs to the loop that first used
#: it. Both hosts run one loop per process, so that is one credential per identity.
_credentials: weakref.WeakKeyDictionary[Any, dict[str | None, Any]] = weakref.WeakKeyDictionary()
_credentials_outside_a_loop: dict[str | None, Any] = {}
_credentials_lock = threading.Lock()


def credential(client_id: str | None) -> Any:
    """This process's DefaultAzureCredential for ``client_id`` (a user-assigned identity;
    None: the default one) in the running event loop, made once and shared by every
    client: one token cache and one token request per scope on a cold start instead of
    one per client."""
    try:
        loop: Any = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    with _credentials_lock:
        cache = _credentials_outside_a_loop if loop is None else _credentials.setdefault(loop, {})
        found = cache.get(client_id)
        if found is None:
            from azure.identity.aio import DefaultAzureCredential

            found = cache[client_id] = DefaultAzureCredential(managed_identity_client_id=client_id)
        return found


def _options(usage: Usage | None, service: str) -> dict[str, Any]:
    if usage is None:
        return dict(CLIENT_OPTIONS)
    return {**CLIENT_OPTIONS, "raw_response_hook": usage.http_hook(service)}


def table_service(connection: Connection, usage: Usage | None = None) -> Any:
    from azure.data.tables.aio import TableServiceClient

    options = _options(usage, "table")

    if connection.connection_string:
        return TableServiceClient.from_connection_string(connection.connection_string, **options)
    if connection.endpoint:
        return TableServiceClient(
            endpoint=connection.endpoint,
            credential=credential(connection.client_id),
            **options,
        )
    raise ValueError(
        "DTQ_STATUS_BACKEND=table needs TableStorageConnection or "
        "TableStorageConnection__tableServiceUri"
    )


def servicebus_clients(connection: Connection) -> tuple[Any, Any]:
    """The Service Bus client and its administration client (for queue depth)."""
    from azure.servicebus.aio import ServiceBusClient
    from azure.servicebus.aio.management import ServiceBusAdministrationClient

    if connection.connection_string:
        return (
            ServiceBusClient.from_connection_string(connection.connection_string),
            ServiceBusAdministrationClient.from_connection_string(connection.connection_string),
        )
    if connection.endpoint:
        shared = credential(connection.client_id)
        return (
            ServiceBusClient(connection.endpoint, credential=shared),
            ServiceBusAdministrationClient(connection.endpoint, credential=shared),
        )
    raise ValueError(
        "DTQ_QUEUE_BACKEND=servicebus needs ServiceBusConnection or "
        "ServiceBusConnection__fullyQualifiedNamespace"
    )


def parse_cosmos_connection_string(text: str) -> tuple[str, str]:
    parts = dict(item.split("=", 1) for item in text.strip().strip(";").split(";") if "=" in item)
    try:
        return parts["AccountEndpoint"], parts["AccountKey"]
    except KeyError:
        raise ValueError("CosmosDBConnection needs AccountEndpoint=...;AccountKey=...;") from None


def cosmos_client(connection: Connection, usage: Usage | None = None) -> tuple[Any, bool]:
    """A Cosmos client, and whether it may create its database and container (key access
    may; an identity with data-plane roles may not, so the infrastructure creates them)."""
    from azure.cosmos.aio import CosmosClient

    metered = _options(usage, "cosmos")
    if connection.connection_string:
        endpoint, key = parse_cosmos_connection_string(connection.connection_string)
        options: dict[str, Any] = {}
        if is_loopback_url(endpoint):
            # Local emulators: one endpoint, no regional discovery; their certificates are
            # self-signed, so verification is off, for loopback addresses only.
            options = {"enable_endpoint_discovery": False, "connection_verify": False}
        return CosmosClient(endpoint, credential=key, **options, **metered), True
    if connection.endpoint:
        return (
            CosmosClient(
                connection.endpoint,
                credential=credential(connection.client_id),
                **metered,
            ),
            False,
        )
    raise ValueError(
        "DTQ_RESULT_BACKEND=cosmos needs CosmosDBConnection or CosmosDBConnection__accountEndpoint"
    )
