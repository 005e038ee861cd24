"""Usage: the billable operations the Azure adapters perform, counted as they happen.

Azure bills Service Bus per operation, Table storage per transaction and Cosmos DB per
request unit. Each Azure adapter records what it sends here (the HTTP clients through
a response hook, so SDK retries count too; Service Bus per call, since its AMQP
client has no hook), and ``bench/cost.py`` turns the counts into a price per million
jobs. Counting is a few dictionary updates per request.

With ``table_details`` (off unless bench/cost.py turns it on: it reads each transaction's
body), Table storage requests are also told apart by what they do (``details``), so the bench
can say what the job status table's index rows and counters cost (issue 21): each
entity-group transaction (``$batch``) and the operations it carries, by the kind of
entity (``row_kind``); the transactions the service refused (it answers 202 and puts
the failed operation's error in the changeset, so that is seen when the SDK reads the
answer); point reads of counters; single writes. Service Bus and Cosmos DB have none.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

#: Cosmos DB answers every request with its charge in this header.
REQUEST_CHARGE_HEADER = "x-ms-request-charge"

#: An entity named in a Table request's URL (after percent-decoding; a quote is doubled).
_URL_KEY = re.compile(r"RowKey='((?:[^']|'')*)'")
#: An entity named in the JSON body of an insert.
_BODY_KEY = re.compile(rb'"RowKey"\s*:\s*("(?:[^"\\]|\\.)*")')
#: The request line of each operation in a $batch body.
_OPERATION = re.compile(rb"^(POST|PUT|PATCH|MERGE|DELETE) (\S+) HTTP/1\.[01]\r?$", re.M)
#: A changeset answer's error: its status, and the failed operation's index.
_FAILURE = re.compile(rb"^HTTP/1\.[01] ([45]\d\d)", re.M)
_FAILED_INDEX = re.compile(rb'"value"\s*:\s*"(\d+):')
_WRITES = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})


@dataclass(frozen=True)
class Meter:
    """What one (service, operation) pair used: calls, and units where the service
    reports them (Cosmos DB request units)."""

    calls: int = 0
    units: float = 0.0


class Usage:
    def __init__(self, table_details: bool = False) -> None:
        self.table_details = table_details
        self._lock = threading.Lock()
        self._meters: dict[tuple[str, str], Meter] = {}
        self._details: Counter[tuple[str, str]] = Counter()

    def record(self, service: str, operation: str, calls: int = 1, units: float = 0.0) -> None:
        with self._lock:
            m = self._meters.get((service, operation), Meter())
            self._meters[(service, operation)] = Meter(m.calls + calls, m.units + units)

    def snapshot(self) -> dict[tuple[str, str], Meter]:
        with self._lock:
            return dict(self._meters)

    def detail(self, service: str, counts: Iterable[tuple[str, int]]) -> None:
        with self._lock:
            for name, n in counts:
                self._details[(service, name)] += n

    def details(self) -> dict[tuple[str, str], int]:
        """What the requests did, where told apart (Table storage: see the module)."""
        with self._lock:
            return dict(self._details)

    def reset(self) -> None:
        with self._lock:
            self._meters.clear()
            self._details.clear()

    def http_hook(self, service: str) -> Callable[[Any], None]:
        """An azure-core ``raw_response_hook`` recording each HTTP response of ``service``
        under its method (``GET``, ``POST``, ...), with any Cosmos DB request charge."""

        def hook(response: Any) -> None:
            http = response.http_response
            charge = http.headers.get(REQUEST_CHARGE_HEADER)
            try:
                units = float(charge) if charge else 0.0
            except ValueError:
                units = 0.0
            self.record(service, response.http_request.method, 1, units)
            if service == "table" and self.table_details:
                # Telling requests apart must never fail one: what cannot be parsed is
                # left out of ``details`` (the counts by method above stay).
                with contextlib.suppress(Exception):
                    self._table_request(response.http_request, http)

        return hook

    def _table_request(self, request: Any, http: Any) -> None:
        method, url = request.method, unquote(request.url)
        body = request.body.encode() if isinstance(request.body, str) else request.body or b""
        if method == "POST" and url.endswith("/$batch"):
            kinds = [row_kind(key) for key in _operation_keys(body)]
            self.detail(
                "table",
                [("transactions", 1)]
                + [(f"transaction operations on {k}", n) for k, n in Counter(kinds).items()],
            )
            _on_read(http, lambda answer: self._refused(http.status_code, answer, kinds))
            return
        key = _key(url, body)
        if key is None:
            return
        if method == "GET" and row_kind(key) == "counter":
            self.detail("table", [("counter reads", 1)])
        elif method in _WRITES:
            self.detail("table", [(f"single writes on {row_kind(key)}", 1)])

    def _refused(self, status: int, answer: bytes, kinds: list[str]) -> None:
        failure = _FAILURE.search(answer) if status == 202 else None
        if status == 202 and failure is None:
            return
        at = _FAILED_INDEX.search(answer)
        index = int(at.group(1)) if at else -1
        on = kinds[index] if 0 <= index < len(kinds) else "unknown"
        self.detail(
            "table",
            [
                ("transactions failed", 1),
                (f"transactions failed {failure.group(1).decode() if failure else status}", 1),
                (f"transactions failed on {on}", 1),
            ]
            + [(f"failed transaction operations on {k}", n) for k, n in Counter(kinds).items()],
        )


def row_kind(row_key: str) -> str:
    """The kind of a Table entity by its RowKey, as the job status table lays them out
    (shared/adapters/azure/table_index.py): ``counter`` (``~c~``, ``~m~``), ``index``
    (any other from ``~``), ``row`` (a job row, or any other table's entity)."""
    if row_key.startswith(("~c~", "~m~")):
        return "counter"
    return "index" if row_key.startswith("~") else "row"


def _key(url: str, body: bytes) -> str | None:
    """The RowKey a request names, in its (percent-decoded) URL or its body; None if none."""
    found = _URL_KEY.search(url)
    if found:
        return found.group(1).replace("''", "'")
    in_body = _BODY_KEY.search(body)
    return str(json.loads(in_body.group(1))) if in_body else None


def _operation_keys(body: bytes) -> list[str]:
    """The RowKeys of a $batch body's operations, in order ('' where none is named)."""
    lines = list(_OPERATION.finditer(body))
    ends = [m.start() for m in lines[1:]] + [len(body)]
    return [
        _key(unquote(m.group(2).decode()), body[m.end() : end]) or ""
        for m, end in zip(lines, ends, strict=True)
    ]


def _on_read(http: Any, then: Callable[[bytes], None]) -> None:
    """Call ``then`` with a response's body once the SDK has read it (it streams a $batch
    answer, so the hook runs before the body is there)."""
    read = getattr(http, "read", None)
    if not inspect.iscoroutinefunction(read):  # the adapters use the asyncio clients only
        return

    async def read_and_look(*args: Any, **kwargs: Any) -> Any:
        content = await read(*args, **kwargs)
        with contextlib.suppress(Exception):
            then(bytes(http.content))
        return content

    with contextlib.suppress(AttributeError):  # one that cannot be wrapped is not told apart
        http.read = read_and_look
