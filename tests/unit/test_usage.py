"""What ``shared/usage.py`` tells apart in Table storage requests (``bench/cost.py`` uses
it): entity-group transactions and the entities they carry, counter reads, transactions
the service refused (a 202 whose changeset answer is an error), and the rest by method.
The requests are shaped as azure-data-tables 12.7 sends them and Azurite 3.35 answers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from shared.usage import Usage

BASE = "http://127.0.0.1:10002/devstoreaccount1"


class Answer:
    """An HTTP response whose body is read later (the SDK streams a $batch answer)."""

    def __init__(self, status: int, body: bytes = b"") -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self._body = body
        self.content = b""

    async def read(self) -> bytes:
        self.content = self._body
        return self._body


def response(method: str, url: str, body: Any = None, answer: Answer | None = None) -> Any:
    return SimpleNamespace(
        http_request=SimpleNamespace(method=method, url=url, body=body),
        http_response=answer or Answer(200),
    )


def batch_body(*parts: tuple[str, str, str]) -> bytes:
    """A $batch request body with one changeset of (method, url, json body) parts."""
    lines = ["--batch_1", "Content-Type: multipart/mixed; boundary=changeset_1", ""]
    for method, url, json in parts:
        lines += [
            "--changeset_1",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "",
            f"{method} {url} HTTP/1.1",
            "Content-Type: application/json",
            "",
            json,
        ]
    lines += ["--changeset_1--", "--batch_1--"]
    return "\r\n".join(lines).encode()


FAILED_ON_SECOND = (
    b"--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_1\r\n\r\n"
    b"--changesetresponse_1\r\nContent-Type: application/http\r\n\r\n"
    b"HTTP/1.1 412 Precondition Failed\r\nContent-ID: 2\r\n\r\n"
    b'{"odata.error":{"code":"UpdateConditionNotSatisfied","message":{"lang":"en-US",'
    b'"value":"1:The update condition specified in the request was not satisfied."}}}\r\n'
    b"--changesetresponse_1--\r\n--batchresponse_1--\r\n"
)
SUCCEEDED = (
    b"--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_1\r\n\r\n"
    b"--changesetresponse_1\r\nContent-Type: application/http\r\n\r\n"
    b"HTTP/1.1 201 Created\r\n\r\n{}\r\n"
    b"--changesetresponse_1\r\nContent-Type: application/http\r\n\r\n"
    b"HTTP/1.1 204 No Content\r\n\r\n\r\n"
    b"--changesetresponse_1--\r\n--batchresponse_1--\r\n"
)


async def test_table_requests_are_told_apart_by_what_they_do() -> None:
    usage = Usage(table_details=True)
    hook = usage.http_hook("table")
    # Point reads: two counters (`~` as the SDK sends it, and percent-encoded), a job row.
    hook(response("GET", f"{BASE}/jobs(PartitionKey='t',RowKey='~c~running~echo')"))
    hook(response("GET", f"{BASE}/jobs(PartitionKey='t',RowKey='%7Em%7E202611292000')", None))
    hook(response("GET", f"{BASE}/jobs(PartitionKey='t',RowKey='it%27%27s')"))
    # A plain replace of a job row (a progress report) and a query.
    hook(response("PUT", f"{BASE}/jobs(PartitionKey='t',RowKey='0001')", '{"stage": "x"}'))
    hook(response("GET", f"{BASE}/jobs()?$filter=PartitionKey%20eq%20%27t%27"))
    # A transaction that creates a job row (its RowKey in the body), upserts an index
    # row and changes a counter; then one the service refuses on the counter.
    ok = Answer(202, SUCCEEDED)
    refused = Answer(202, FAILED_ON_SECOND)
    parts = (
        ("POST", f"{BASE}/jobs", '{"PartitionKey": "t", "RowKey": "0002", "state": "queued"}'),
        ("PATCH", f"{BASE}/jobs(PartitionKey='t',RowKey='~s~queued~0002')", "{}"),
        ("PATCH", f"{BASE}/jobs(PartitionKey='t',RowKey='~c~queued~echo')", '{"n": 3}'),
    )
    hook(response("POST", f"{BASE}/$batch", batch_body(*parts), ok))
    hook(response("POST", f"{BASE}/$batch", batch_body(*parts[1:]), refused))
    await ok.read()  # as the SDK does after the hook
    await refused.read()

    # The billed requests by method stay as they were.
    assert {op: m.calls for (_, op), m in usage.snapshot().items()} == {
        "GET": 4,
        "PUT": 1,
        "POST": 2,
    }
    assert usage.details() == {
        ("table", "counter reads"): 2,
        ("table", "transactions"): 2,
        ("table", "transaction operations on row"): 1,
        ("table", "transaction operations on index"): 2,
        ("table", "transaction operations on counter"): 2,
        ("table", "transactions failed"): 1,
        ("table", "transactions failed 412"): 1,
        ("table", "transactions failed on counter"): 1,
        ("table", "failed transaction operations on index"): 1,
        ("table", "failed transaction operations on counter"): 1,
        ("table", "single writes on row"): 1,
    }


async def test_other_services_and_a_reset() -> None:
    usage = Usage(table_details=True)
    usage.http_hook("cosmos")(response("POST", "https://c/dbs/d/colls/c/docs", "{}"))
    usage.http_hook("table")(response("GET", f"{BASE}/jobs(PartitionKey='t',RowKey='~c~a~b')"))
    assert usage.details() == {("table", "counter reads"): 1}
    usage.reset()
    assert usage.details() == {} and usage.snapshot() == {}


def test_a_request_that_cannot_be_told_apart_is_still_counted() -> None:
    usage = Usage(table_details=True)
    usage.http_hook("table")(response("POST", f"{BASE}/jobs", b'{"RowKey": "bad \\x"}'))
    assert usage.snapshot()[("table", "POST")].calls == 1
    assert usage.details() == {}


def test_table_requests_are_told_apart_only_when_asked() -> None:
    """The app's own Usage does not read transaction bodies (only bench/cost.py asks)."""
    usage = Usage()
    usage.http_hook("table")(response("GET", f"{BASE}/jobs(PartitionKey='t',RowKey='~c~a~b')"))
    assert usage.snapshot()[("table", "GET")].calls == 1
    assert usage.details() == {}
