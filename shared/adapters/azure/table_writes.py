"""How the job status table's writes keep its index rows and counters (issue 21).

A job's change is one entity-group transaction in its partition: the job row's own
operation first (conditional on its ETag), then its index rows deleted and added and
its counters changed under their ETags (shared/adapters/azure/table_index.py). So the
index and the counters change exactly when the job does. A transaction refused for the
job row is the caller's answer (PreconditionFailed, Conflict, NotFound); one refused
for a counter another job changed meanwhile is tried again with the counter read anew.

What a stored version counts for is remembered by its ETag (each ``get`` and write
tells it), so a replace after a read needs no extra read; writes of one process to one
partition's counters take turns, so they do not refuse each other.
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict
from dataclasses import replace
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableTransactionError

from shared.adapters.azure.errors import translated
from shared.adapters.azure.table_index import (
    Counted,
    Seen,
    counter_operation,
    deltas,
    index_operations,
    mark,
    seen_after,
)
from shared.errors import BackendUnavailable, NotFound, PreconditionFailed

#: Tries of a transaction whose counters other writers keep changing.
MAX_TRIES = 20
#: Stored versions and counters remembered (the oldest are forgotten first).
MAX_REMEMBERED = 20_000
#: Table storage's limit of entities in one transaction.
MAX_BATCH = 100
#: The properties that say what a job row counts for.
COUNTED = ["RowKey", "state", "job_type", "finished_at", "ix"]


class _NoTurn:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_NO_TURN = _NoTurn()
#: Most bytes of entities in one transaction (Table storage refuses over 4 MiB).
MAX_BATCH_BYTES = 3_500_000


def _weight(entity: dict[str, Any]) -> int:
    """An upper bound of the entity's bytes in a transaction's JSON (non-ASCII text
    is sent as \\uXXXX escapes)."""
    text = "".join(v for v in entity.values() if isinstance(v, str))
    return 1_000 + len(text) * (1 if text.isascii() else 6)


class IndexedWrites:
    table: Any

    def __init__(self) -> None:
        self._versions: OrderedDict[tuple[str, str, str], Counted] = OrderedDict()
        self._counters: dict[tuple[str, str], Seen] = {}
        self._turns: dict[str, asyncio.Lock] = {}

    # -- what is known of stored versions and counters -----------------------------

    def remember(self, entity: Any) -> None:
        key = (entity["PartitionKey"], entity["RowKey"], entity.metadata["etag"])
        self._versions[key] = Counted.of_entity(entity)
        while len(self._versions) > MAX_REMEMBERED:
            self._versions.popitem(last=False)

    def forget_counters(self) -> None:
        self._counters.clear()

    async def stored_version(self, entity: dict[str, Any], etag: str) -> Counted:
        """What the stored version ``etag`` of the job row counts for; PreconditionFailed
        if the row is now another version, NotFound if it is gone."""
        pk, rk = entity["PartitionKey"], entity["RowKey"]
        known = self._versions.get((pk, rk, etag))
        if known is not None:
            return known
        row = await self.table.get_entity(pk, rk, select=COUNTED)
        if row.metadata["etag"] != etag:
            raise PreconditionFailed(f"job {entity['job_id']} changed meanwhile")
        return Counted.of_entity(row)

    async def _counter(self, pk: str, key: str) -> Seen:
        if (pk, key) not in self._counters:
            if len(self._counters) > MAX_REMEMBERED:
                self._counters.clear()
            try:
                with translated(f"counter {key}"):
                    row = await self.table.get_entity(pk, key)
                self._counters[(pk, key)] = (int(row["n"]), row.metadata["etag"])
            except NotFound:
                self._counters[(pk, key)] = None
        return self._counters[(pk, key)]

    # -- one job's change -----------------------------------------------------------

    async def transact(
        self, job_op: tuple[Any, ...], before: Counted | None, after: Counted | None
    ) -> str | None:
        """Run the job row's operation with its index and counter changes in one
        transaction; returns the job row's new ETag (None for a delete)."""
        pk = job_op[1]["PartitionKey"]
        # Writes that move counters take turns per partition in this process.
        turn = self._turns.setdefault(pk, asyncio.Lock()) if deltas(before, after) else _NO_TURN
        for _ in range(MAX_TRIES):
            async with turn:
                counters = {k: await self._counter(pk, k) for k in deltas(before, after)}
                ops = [job_op, *index_operations(pk, before, after, counters)]
                try:
                    results = await self._submit(ops)
                except TableTransactionError as exc:
                    if exc.index == 0 or exc.status_code not in (404, 409, 412):
                        raise
                    failed = ops[exc.index][1]["RowKey"]
                    if not failed.startswith(("~c~", "~m~")):
                        raise BackendUnavailable(
                            f"index row {failed} disagrees with its job: run"
                            " dtq rebuild-index --recount"
                        ) from exc
                    for key in counters:  # another writer changed it: read it again
                        self._counters.pop((pk, key), None)
                    continue
            for key, seen in seen_after(ops[1:], results[1:]).items():
                self._counters[(pk, key)] = seen
            etag = results[0].get("etag")
            if after is not None and etag:
                self._versions[(pk, after.inverted_id, etag)] = after
            return etag
        raise BackendUnavailable(f"the counters of partition {pk} kept changing")

    async def _submit(self, ops: list[tuple[Any, ...]]) -> list[Any]:
        """One transaction; a lone operation (a change of neither state nor type, such as
        a progress report) as the plain request it is (the same one billed transaction)."""
        if len(ops) > 1:
            return list(await self.table.submit_transaction(ops))
        kind, entity, *options = ops[0]
        kwargs = options[0] if options else {}
        if kind == "create":
            return [await self.table.create_entity(entity)]
        if kind == "update":
            return [await self.table.update_entity(entity, **kwargs)]
        await self.table.delete_entity(entity["PartitionKey"], entity["RowKey"], **kwargs)
        return [{}]

    async def remove(self, pk: str, rk: str, known: Any = None) -> bool:
        """Delete a job row with its index rows and counter shares; False if it was gone
        or (with ``known``, the row as read) changed meanwhile."""
        for _ in range(MAX_TRIES):
            row = known or await self._read_counted(pk, rk)
            if row is None:
                return False
            op = (
                "delete",
                {"PartitionKey": pk, "RowKey": rk},
                {"etag": row.metadata["etag"], "match_condition": MatchConditions.IfNotModified},
            )
            try:
                with translated(f"job row {rk}"):
                    await self.transact(op, Counted.of_entity(row), None)
                return True
            except (PreconditionFailed, NotFound):
                if known is not None:
                    return False  # changed meanwhile: a later purge looks again
        raise BackendUnavailable(f"job row {rk} kept changing")

    async def _read_counted(self, pk: str, rk: str) -> Any:
        try:
            with translated(f"job row {rk}"):
                return await self.table.get_entity(pk, rk, select=COUNTED)
        except NotFound:
            return None

    async def create_batched(self, rows: list[tuple[dict[str, Any], Any]]) -> None:
        """New job rows (entity, job) in as few transactions as fit: per partition, each
        with its jobs' index rows and one change of each counter they share."""
        by_pk: dict[str, list[Item]] = {}
        for entity, job in rows:
            counted = Counted.of_job(entity["RowKey"], job)
            by_pk.setdefault(entity["PartitionKey"], []).append((("create", entity), counted))
        await asyncio.gather(*(self._add_in(pk, items) for pk, items in by_pk.items()))

    async def index_rows_of(self, pk: str, rows: list[Any]) -> int:
        """Give job rows written before the index (as read, with their ETags) their index
        rows and counter shares, each conditionally on its ETag in the same transaction
        as its counters: a row a writer changed meanwhile was indexed by that writer (or
        deleted) and is left alone, so this runs safely beside the app. Returns the rows
        this call indexed."""
        items = [(mark(row, 1), replace(Counted.of_entity(row), indexed=True)) for row in rows]
        return await self._add_in(pk, items, skip_changed=True)

    async def _add_in(self, pk: str, items: list[Item], skip_changed: bool = False) -> int:
        """Each item's job row operation with its index rows and counters, in
        transactions of as many items as fit. A counter another writer changed is read
        again; with ``skip_changed`` an item whose job row changed or went is dropped,
        otherwise that refusal is the caller's. Returns the items written."""
        written = 0
        while items:
            chunk = _chunk(items)
            items = items[len(chunk) :]
            turn = self._turns.setdefault(pk, asyncio.Lock())
            races = 0  # lost on a counter; a dropped item is progress, not a race
            while chunk:
                if races >= MAX_TRIES:
                    raise BackendUnavailable(f"the counters of partition {pk} kept changing")
                moves: Counter[str] = Counter()
                ops: list[tuple[Any, ...]] = []
                for job_op, counted in chunk:
                    moves.update(counted.counters())
                    ops.append(job_op)
                    ops += [
                        ("upsert", {"PartitionKey": pk, "RowKey": k}) for k in counted.index_rows()
                    ]
                async with turn:
                    for key, n in sorted(moves.items()):
                        ops.append(counter_operation(pk, key, await self._counter(pk, key), n))
                    try:
                        results = await self.table.submit_transaction(ops)
                    except TableTransactionError as exc:
                        failed = ops[exc.index] if exc.index < len(ops) else ("", {"RowKey": ""})
                        key = failed[1]["RowKey"]
                        if exc.status_code in (404, 409, 412) and key.startswith(("~c~", "~m~")):
                            # another writer changed (or at 0 deleted) it: read them again
                            for counter in moves:
                                self._counters.pop((pk, counter), None)
                            races += 1
                            continue
                        kept = [item for item in chunk if item[0] is not failed]
                        if (
                            skip_changed
                            and exc.status_code in (404, 412)
                            and len(kept) < len(chunk)
                        ):
                            chunk = kept  # its job row changed or went: leave it be
                            continue
                        with translated(f"jobs of partition {pk}"):
                            raise
                for key, seen in seen_after(ops, results).items():
                    self._counters[(pk, key)] = seen
                written += len(chunk)
                break
        return written


#: One job row's operation in a transaction, and what that row counts for once written.
Item = tuple[tuple[Any, ...], Counted]


def _chunk(items: list[Item]) -> list[Item]:
    """The first items that fit one transaction: 4 entities each (the job row and 3
    index rows) and the counters they change, within 100 entities and 3.5 MB."""
    chunk: list[Item] = []
    counters: set[str] = set()
    size = 0
    for op, counted in items:
        more = set(counted.counters()) - counters
        size += _weight(op[1])
        if chunk and (
            4 * (len(chunk) + 1) + len(counters | more) > MAX_BATCH or size > MAX_BATCH_BYTES
        ):
            break
        chunk.append((op, counted))
        counters |= more
    return chunk
