"""Job status tables written straight into Azurite's database file, for loads Azurite
cannot take through its API in useful time (bench/scale.py --table-load file).

Azurite keeps a table in a LokiJS collection indexed on PartitionKey alone, so each
insert or update looks through its whole partition: loading through the API slows with
the square of the partition size (measured here: 10,000 jobs in 6 minutes, the next
10,000 in 15, on a shared 2-core machine), and 100,000 jobs would take hours.

So the jobs go through the status store's own batched writes (``create_batched``: the
same job rows, index rows and counters, with the same counter arithmetic) into
:class:`MemoryTable`, a table in memory that applies each transaction's operations as
the service would. :func:`write_database` then writes every entity as Azurite stores
it (properties serialised by the Tables SDK, with Azurite's own ``Timestamp``, ETag and
LokiJS bookkeeping) into ``__azurite_db_table__.json``; an Azurite started with
``--location`` on that folder loads it, and every read of the bench then goes through
stock Azurite. bench/scale.py checks the shortcut: at a size both ways can load, the
reads must count the same requests and entities either way.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableEntity
from azure.data.tables._serialize import _add_entity_properties

ACCOUNT = "devstoreaccount1"
DATABASE = "__azurite_db_table__.json"


class MemoryTable:
    """The operations of the status store's batched writes, applied in memory."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._clock = 0

    def _etag(self) -> str:
        self._clock += 1
        return f"e{self._clock}"

    async def get_entity(self, pk: str, rk: str, **_: Any) -> TableEntity:
        row = self.rows.get((pk, rk))
        if row is None:
            raise ResourceNotFoundError("entity not found")
        entity = TableEntity(**row["entity"])
        entity._metadata = {"etag": row["etag"]}  # as the SDK fills it
        return entity

    async def submit_transaction(self, ops: list[tuple[Any, ...]]) -> list[dict[str, str]]:
        """All the operations or none: a refused one undoes those before it."""
        undo: list[tuple[tuple[str, str], dict[str, Any] | None]] = []
        answers: list[dict[str, str]] = []
        try:
            for kind, entity, *options in ops:
                key = (entity["PartitionKey"], entity["RowKey"])
                wanted = (options[0] if options else {}).get("etag")
                had = self.rows.get(key)
                if kind == "create" and had is not None:
                    raise ResourceExistsError(f"{key} exists")
                if kind in ("update", "delete") and (
                    had is None or (wanted and had["etag"] != wanted)
                ):
                    raise ResourceNotFoundError(f"{key} is gone or changed")
                undo.append((key, had))
                if kind == "delete":
                    del self.rows[key]
                    answers.append({})
                else:
                    etag = self._etag()
                    self.rows[key] = {"entity": dict(entity), "etag": etag}
                    answers.append({"etag": etag})
        except Exception:
            for key, had in reversed(undo):
                if had is None:
                    self.rows.pop(key, None)
                else:
                    self.rows[key] = had
            raise
        return answers


def _document(pk: str, rk: str, entity: dict[str, Any], at: datetime, n: int) -> dict[str, Any]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # 7 digits, as Azurite writes them
    properties = {"PartitionKey": pk, "RowKey": rk}
    sent = _add_entity_properties(entity)  # as the SDK sends it; Azurite drops Edm.String
    properties.update({k: v for k, v in sent.items() if v != "Edm.String"})
    properties.update({"Timestamp": stamp, "Timestamp@odata.type": "Edm.DateTime"})
    return {
        "PartitionKey": pk,
        "RowKey": rk,
        "properties": properties,
        "lastModifiedTime": stamp,
        "eTag": f"W/\"datetime'{quote(stamp, safe='-.')}'\"",
        "meta": {"revision": 0, "created": int(at.timestamp() * 1000), "version": 0},
        "$loki": n,
    }


def _index(name: str, docs: list[dict[str, Any]], get: Any) -> dict[str, Any]:
    """A LokiJS binary index: the positions of the documents sorted by the property."""
    order = sorted(range(len(docs)), key=lambda i: get(docs[i]))
    return {"name": name, "dirty": False, "values": order}


def _collection(name: str, docs: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    return {
        "name": name,
        "data": docs,
        "idIndex": None,
        "binaryIndices": {k: _index(k, docs, lambda d, k=k: d[k]) for k in keys},
        "constraints": None,
        "uniqueNames": [],
        "transforms": {},
        "objType": name,
        "dirty": False,
        "cachedIndex": None,
        "cachedBinaryIndex": None,
        "cachedData": None,
        "adaptiveBinaryIndices": True,
        "transactional": False,
        "cloneObjects": False,
        "cloneMethod": "parse-stringify",
        "asyncListeners": False,
        "disableMeta": False,
        "disableChangesApi": True,
        "disableDeltaChangesApi": True,
        "autoupdate": False,
        "serializableIndices": True,
        "disableFreeze": True,
        "ttl": None,
        "maxId": len(docs),
        "DynamicViews": [],
        "events": {},
        "changes": [],
        "dirtyIds": [],
    }


def write_database(folder: Path, tables: dict[str, MemoryTable]) -> Path:
    """Azurite's database file in ``folder`` holding ``tables`` (name to contents)."""
    at = datetime.now(UTC)
    table_docs = [
        {"account": ACCOUNT, "table": name, "meta": {"revision": 0, "created": 0, "version": 0}}
        for name in tables
    ]
    for n, doc in enumerate(table_docs, start=1):
        doc["$loki"] = n
    collections = [
        _collection("$TABLES_COLLECTION$", table_docs, ("account", "table")),
        _collection("$SERVICES_COLLECTION$", [], ()),
    ]
    for name, table in tables.items():
        docs = [
            _document(pk, rk, row["entity"], at + timedelta(microseconds=n), n)
            for n, ((pk, rk), row) in enumerate(sorted(table.rows.items()), start=1)
        ]
        collections.append(_collection(f"{ACCOUNT}${name}", docs, ("PartitionKey", "RowKey")))
    path = folder / DATABASE
    options = {"persistenceMethod": "fs", "autosave": True, "autosaveInterval": 5000}
    database = {
        "filename": str(path),
        "collections": collections,
        "databaseVersion": 1.5,
        "engineVersion": 1.5,
        "autosave": True,
        "autosaveInterval": 5000,
        "autosaveHandle": None,
        "throttledSaves": True,
        "options": {**options, "serializationMethod": "normal", "destructureDelimiter": "$<\n"},
        "persistenceMethod": "fs",
        "persistenceAdapter": None,
        "verbose": False,
        "events": {},
        "ENV": "NODEJS",
    }
    started = time.perf_counter()
    path.write_text(json.dumps(database))
    print(f"  wrote {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.0f} s")
    return path
