"""The function app's triggers called directly, as the Azure Functions unit-testing guide
does (``get_user_function()`` of the registered function), on a runtime installed for
them (functions/runtime.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import azure.functions as func
from pydantic import BaseModel

from functions.runtime import install
from shared.adapters.azure.servicebus_queue import ServiceBusJobQueue
from shared.composition import Runtime
from shared.jobtypes import default_registry
from shared.settings import Settings
from tests.support.servicebus_fake import FakeNamespace


class Nothing(BaseModel):
    """The payload of a job type a test registers: none."""


def user_function(blueprint: func.Blueprint, name: str) -> Callable[..., Any]:
    app = func.FunctionApp()
    app.register_functions(blueprint)
    for fn in app.get_functions():
        if fn.get_function_name() == name:
            return fn.get_user_function()
    raise KeyError(name)


def request(method: str, url: str, body: Any = None, **kwargs: Any) -> func.HttpRequest:
    """A request as a client sends it: a body with ``Content-Type: application/json``."""
    data = (
        body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    )
    headers = {"content-type": "application/json"} if data else {}
    headers.update(kwargs.pop("headers", {}))
    return func.HttpRequest(
        method, f"http://localhost/api/{url}", body=data, headers=headers, **kwargs
    )


def as_json(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


@asynccontextmanager
async def installed(rt: Runtime) -> AsyncIterator[Runtime]:
    """``rt`` installed for the triggers during the block; uninstalled and closed after."""
    install(rt)
    try:
        yield rt
    finally:
        install(None)
        await rt.close()


@asynccontextmanager
async def on_servicebus(
    data_dir: Path,
    job_type: str,
    handler: Callable[[Nothing, Any], Awaitable[Any]],
    *,
    lock_duration: float,
    max_delivery_count: int,
) -> AsyncIterator[tuple[Runtime, ServiceBusJobQueue]]:
    """A runtime whose jobs queue is ``dtq-jobs`` on a fake Service Bus namespace, with the
    built-in job types and ``job_type`` (run by ``handler``), installed for the block."""
    registry = default_registry()
    registry.register(job_type, Nothing, handler)
    namespace = FakeNamespace()
    namespace.create_queue(
        "dtq-jobs", lock_duration=lock_duration, max_delivery_count=max_delivery_count
    )
    rt = Runtime.from_settings(Settings.load(None, data_dir=data_dir), registry=registry)
    queue = ServiceBusJobQueue(
        namespace.client(),
        "dtq-jobs",
        lock_duration=lock_duration,
        max_delivery_count=max_delivery_count,
    )
    rt.use_queue(queue)
    async with installed(rt):
        yield rt, queue
