"""Microsoft's Python worker, driven in-process the way the Functions host drives it.

The Functions host talks to the Python worker over gRPC with ``FunctionRpc.proto``
messages. Here the test plays the host: it sends the worker library
(``azure-functions-runtime``, the library behind Microsoft's Python worker; ``./dev test``
installs it into ``.venv/functions-worker``) the same requests, built from the published
protocol (tests/support/rpc.py), through the library's own entry points, as
Microsoft's proxy worker does: ``worker_init_request`` (which indexes the app),
``functions_metadata_request``, ``function_load_request`` and ``invocation_request``.

What the host itself adds is played here too, from the host's documented shapes: an HTTP
request as ``RpcHttp``; a Service Bus message as bytes with the trigger metadata the
Service Bus extension sends (``MessageId``, ``DeliveryCount`` counted from 1 as .NET
does, ``ApplicationProperties``, ``EnqueuedTimeUtc``, ``SequenceNumber``,
``LockToken``..., and the ``...Array`` forms for ``cardinality: many``); a timer tick
as the JSON ``TimerInfo``; the SignalR connection info input as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.support.rpc import load_protocol

ROOT = Path(__file__).resolve().parents[2]
#: Where ./dev test installs the worker library (pip --target, off the app's path).
WORKER_LIB = Path(os.environ.get("DTQ_FUNCTIONS_WORKER_LIB", ROOT / ".venv" / "functions-worker"))
#: The Functions host version this harness plays (any 4.x; the worker only echoes it).
HOST_VERSION = "4.1040.100"


def worker_library_installed() -> bool:
    return (WORKER_LIB / "azure_functions_runtime" / "__init__.py").exists()


def worker_library() -> ModuleType:
    if str(WORKER_LIB) not in sys.path:
        sys.path.append(str(WORKER_LIB))
    import azure_functions_runtime

    return azure_functions_runtime


class IndexingFailed(Exception):
    """The worker refused the app (as the Functions host would report it)."""


@dataclass
class _Request:
    """What the proxy worker hands the library: the streaming message and its properties."""

    request: Any
    properties: dict[str, Any]


@dataclass
class Invocation:
    """One invocation's outcome, read back from the worker's ``InvocationResponse``."""

    succeeded: bool
    error: str | None
    #: The ``$return`` value (an HTTP response as a dict for HTTP functions).
    returned: Any
    #: Output bindings by name, decoded.
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return int(self.returned["status"])

    def json(self) -> Any:
        return json.loads(self.returned["body"])


def _typed(protos: ModuleType, value: Any) -> Any:
    """A Python value as ``TypedData``, as the host serialises it: strings and bytes as
    such, anything else (numbers included: the worker has no ``int`` case) as JSON."""
    if isinstance(value, bytes):
        return protos.TypedData(bytes=value)
    if isinstance(value, str):
        return protos.TypedData(string=value)
    if isinstance(value, bool):
        return protos.TypedData(json=json.dumps(value))
    return protos.TypedData(json=json.dumps(value))


def _untyped(data: Any) -> Any:
    kind = data.WhichOneof("data")
    if kind is None:
        return None
    value = getattr(data, kind)
    if kind == "json":
        return json.loads(value)
    if kind == "http":
        body = _untyped(value.body)
        return {
            "status": value.status_code or "200",
            "headers": dict(value.headers),
            "body": body.encode() if isinstance(body, str) else (body or b""),
        }
    return value


def _host_time(at: datetime) -> str:
    """A DateTime as the host's JSON serialiser writes it (ISO 8601, 7 fractional digits)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@dataclass
class QueueMessage:
    """A Service Bus message as the Service Bus extension describes it to a worker."""

    body: bytes
    message_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: The .NET count: 1 on the first delivery.
    delivery_count: int = 1
    application_properties: dict[str, Any] = field(default_factory=dict)
    sequence_number: int = 1
    enqueued_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    content_type: str | None = None

    def metadata(self) -> dict[str, Any]:
        return {
            "MessageId": self.message_id,
            "DeliveryCount": self.delivery_count,
            "ApplicationProperties": self.application_properties,
            "UserProperties": self.application_properties,
            "EnqueuedTimeUtc": _host_time(self.enqueued_time),
            "SequenceNumber": self.sequence_number,
            "LockToken": str(uuid.uuid4()),
            "ContentType": self.content_type,
        }


class FunctionsWorker:
    """Microsoft's Python worker library with one function app loaded."""

    def __init__(self, app_dir: Path, script_file: str = "function_app.py") -> None:
        self.app_dir = app_dir
        self.script_file = script_file
        self.protos = load_protocol()
        self.lib = worker_library()
        self.functions: dict[str, Any] = {}  # name -> RpcFunctionMetadata
        self._replaced: ModuleType | None = None
        #: Names of the functions invoked so far.
        self.invoked: set[str] = set()

    def _request(self, **message: Any) -> _Request:
        return _Request(
            self.protos.StreamingMessage(request_id=uuid.uuid4().hex, **message),
            {"protos": self.protos, "host": "127.0.0.1"},
        )

    async def start(self) -> FunctionsWorker:
        """Init (the worker indexes the app here), list the functions, load each one.
        Raises :class:`IndexingFailed` with the worker's own message if it refuses."""
        p = self.protos
        os.environ["PYTHON_SCRIPT_FILE_NAME"] = self.script_file
        if str(self.app_dir) not in sys.path:  # the proxy worker runs in the app folder
            sys.path.insert(0, str(self.app_dir))
        # Index a fresh app object (an app's functions can be listed once); the module
        # other tests imported is put back at stop().
        self._replaced = sys.modules.pop(Path(self.script_file).stem, None)
        self.lib.start_threadpool_executor()
        init = await self.lib.worker_init_request(
            self._request(
                worker_init_request=p.WorkerInitRequest(
                    host_version=HOST_VERSION,
                    function_app_directory=str(self.app_dir),
                    capabilities={},
                )
            )
        )
        if init.result.status != p.StatusResult.Success:
            raise IndexingFailed(init.result.exception.message)
        listed = await self.lib.functions_metadata_request(
            self._request(
                functions_metadata_request=p.FunctionsMetadataRequest(
                    function_app_directory=str(self.app_dir)
                )
            )
        )
        if listed.result.status != p.StatusResult.Success:
            raise IndexingFailed(listed.result.exception.message)
        for metadata in listed.function_metadata_results:
            loaded = await self.lib.function_load_request(
                self._request(
                    function_load_request=p.FunctionLoadRequest(
                        function_id=metadata.function_id, metadata=metadata
                    )
                )
            )
            if loaded.result.status != p.StatusResult.Success:
                raise IndexingFailed(loaded.result.exception.message)
            self.functions[metadata.name] = metadata
        return self

    def stop(self) -> None:
        self.lib.stop_threadpool_executor()
        stem = Path(self.script_file).stem
        if self._replaced is not None:
            sys.modules[stem] = self._replaced
        else:
            sys.modules.pop(stem, None)
        os.environ.pop("PYTHON_SCRIPT_FILE_NAME", None)

    # -- what the host learns at indexing ------------------------------------------

    def bindings(self, name: str) -> dict[str, dict[str, Any]]:
        """A function's bindings as the host reads them (``raw_bindings`` JSON), by name."""
        raw = [json.loads(b) for b in self.functions[name].raw_bindings]
        return {b["name"]: b for b in raw}

    def trigger(self, name: str) -> dict[str, Any]:
        return next(b for b in self.bindings(name).values() if b["type"].endswith("Trigger"))

    # -- invocations -----------------------------------------------------------------

    async def invoke(
        self,
        name: str,
        inputs: Mapping[str, Any],
        trigger_metadata: Mapping[str, Any] | None = None,
    ) -> Invocation:
        p = self.protos
        metadata = self.functions[name]
        self.invoked.add(name)
        response = await self.lib.invocation_request(
            self._request(
                invocation_request=p.InvocationRequest(
                    invocation_id=str(uuid.uuid4()),
                    function_id=metadata.function_id,
                    input_data=[
                        p.ParameterBinding(name=arg, data=data) for arg, data in inputs.items()
                    ],
                    trigger_metadata={
                        k: _typed(p, v)
                        for k, v in (trigger_metadata or {}).items()
                        if v is not None
                    },
                )
            )
        )
        ok = response.result.status == p.StatusResult.Success
        return Invocation(
            succeeded=ok,
            error=None if ok else response.result.exception.message,
            returned=_untyped(response.return_value),
            outputs={b.name: _untyped(b.data) for b in response.output_data},
        )

    async def http(
        self,
        name: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        route_params: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Invocation:
        """An HTTP request as the host sends it: ``RpcHttp`` with the raw body as bytes."""
        p = self.protos
        data = (
            body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
        )
        sent_headers = (
            {"content-type": "application/json", **(headers or {})} if data else dict(headers or {})
        )
        query_string = "&".join(f"{k}={v}" for k, v in (query or {}).items())
        http = p.RpcHttp(
            method=method,
            url=f"http://localhost:7071/api/{path}" + (f"?{query_string}" if query_string else ""),
            headers=sent_headers,
            body=p.TypedData(bytes=data),
            params=dict(route_params or {}),
            query=dict(query or {}),
        )
        trigger = self.trigger(name)["name"]
        inputs = {
            trigger: p.TypedData(http=http),
            **{k: _typed(p, v) for k, v in (extra or {}).items()},
        }
        return await self.invoke(name, inputs)

    async def service_bus(self, name: str, message: QueueMessage) -> Invocation:
        """One message to a ``cardinality: one`` Service Bus trigger."""
        trigger = self.trigger(name)["name"]
        return await self.invoke(
            name, {trigger: self.protos.TypedData(bytes=message.body)}, message.metadata()
        )

    async def service_bus_batch(
        self, name: str, messages: Sequence[QueueMessage], extra: Mapping[str, Any] | None = None
    ) -> Invocation:
        """A batch to a ``cardinality: many`` trigger: the bodies as ``collection_bytes``
        and every metadata field as an ``...Array``, as the extension sends them."""
        p = self.protos
        trigger = self.trigger(name)["name"]
        fields = [m.metadata() for m in messages]
        metadata = {
            f"{key}Array": [f[key] for f in fields] for key in fields[0] if key != "ContentType"
        }
        batch = p.TypedData(collection_bytes=p.CollectionBytes(bytes=[m.body for m in messages]))
        inputs = {trigger: batch, **{k: _typed(p, v) for k, v in (extra or {}).items()}}
        return await self.invoke(name, inputs, metadata)

    async def timer(self, name: str, *, past_due: bool = False) -> Invocation:
        """A timer tick: the ``TimerInfo`` JSON the timer extension sends."""
        trigger = self.trigger(name)["name"]
        now = datetime.now(UTC)
        info = {
            "Schedule": {"AdjustForDST": True},
            "ScheduleStatus": {
                "Last": _host_time(now),
                "Next": _host_time(now),
                "LastUpdated": _host_time(now),
            },
            "IsPastDue": past_due,
        }
        return await self.invoke(name, {trigger: self.protos.TypedData(json=json.dumps(info))})
