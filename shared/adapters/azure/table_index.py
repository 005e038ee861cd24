"""Index rows and counters of the job status table (issue 21; docs/storage.md).

Beside each job row, in the same partition and written in the same entity-group
transaction, a job keeps three index rows and its share of the partition's counters:

- ``~s~<state>~<inverted id>``, ``~t~<type>~<inverted id>``,
  ``~st~<state>~<type>~<inverted id>``: a list by state, type or both reads a RowKey
  range of them, newest first, as the job rows are;
- ``~c~<state>~<type>``: the partition's jobs in that state of that type (``n``);
- ``~m~<yyyymmddHHMM>``: the partition's jobs in state ``completed`` that finished in
  that minute.

``~`` sorts after every character of a job id, so the job rows (RowKey = the inverted
job id) come first and an unfiltered list stops at ``RowKey lt '~'``. A type is written
with every character outside ``A-Za-z0-9_.-`` escaped as ``!xx`` (UTF-8 bytes in hex),
so it never holds the separator. A counter at zero is deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import UpdateMode

from shared.jobs import Job, JobState

#: Every index and counter RowKey starts with it; job rows sort before it.
INDEX_START = "~"
#: The job row's property that says its index rows exist (rows written before issue 21
#: have none until ``rebuild_index``).
INDEXED = "ix"
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def type_key(job_type: str) -> str:
    return "".join(c if c in _SAFE else "".join(f"!{b:02x}" for b in c.encode()) for c in job_type)


def list_prefix(state: JobState | None, job_type: str | None) -> str:
    """The RowKey prefix of the index rows a list reads ('' for the job rows)."""
    if state is not None and job_type is not None:
        return f"~st~{state.value}~{type_key(job_type)}~"
    if state is not None:
        return f"~s~{state.value}~"
    if job_type is not None:
        return f"~t~{type_key(job_type)}~"
    return ""


def count_key(state: str, job_type: str) -> str:
    return f"~c~{state}~{type_key(job_type)}"


COUNTS_FROM, COUNTS_TO = "~c~", "~c~~"
MINUTES_TO = "~m~~"


def minute_key(at: datetime) -> str:
    return "~m~" + at.astimezone(UTC).strftime("%Y%m%d%H%M")


def minute_of(key: str) -> datetime:
    return datetime.strptime(key[3:], "%Y%m%d%H%M").replace(tzinfo=UTC)


def state_type_of(key: str) -> tuple[str, str]:
    """The (state, type) a ``~c~`` counter's RowKey names."""
    _, _, state, escaped = key.split("~", 3)
    raw = bytearray()
    i = 0
    while i < len(escaped):
        if escaped[i] == "!":
            raw.append(int(escaped[i + 1 : i + 3], 16))
            i += 3
        else:
            raw += escaped[i].encode()
            i += 1
    return state, raw.decode()


@dataclass(frozen=True)
class Counted:
    """What one stored version of a job puts beside its row: index rows and +1 on
    counters. ``indexed`` is False for a row written before the index existed (it has
    neither)."""

    inverted_id: str
    state: str
    job_type: str
    finished_at: datetime | None
    indexed: bool = True

    @classmethod
    def of_job(cls, row_key: str, job: Job) -> Counted:
        return cls(row_key, job.state.value, job.job_type, job.finished_at)

    @classmethod
    def of_entity(cls, entity: Any) -> Counted:
        return cls(
            entity["RowKey"],
            entity["state"],
            entity["job_type"],
            entity.get("finished_at"),
            bool(entity.get(INDEXED)),
        )

    def index_rows(self) -> set[str]:
        if not self.indexed:
            return set()
        state = JobState(self.state)
        return {
            list_prefix(state, None) + self.inverted_id,
            list_prefix(None, self.job_type) + self.inverted_id,
            list_prefix(state, self.job_type) + self.inverted_id,
        }

    def counters(self) -> list[str]:
        if not self.indexed:
            return []
        keys = [count_key(self.state, self.job_type)]
        if self.state == JobState.COMPLETED.value and self.finished_at is not None:
            keys.append(minute_key(self.finished_at))
        return keys


def mark(row: Any, indexed: int) -> tuple[Any, ...]:
    """The transaction operation that sets a job row's ``ix`` (as read: its keys and
    ETag), conditional on that ETag, leaving the rest of the row as it is."""
    entity = {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], INDEXED: indexed}
    condition = {"etag": row.metadata["etag"], "match_condition": MatchConditions.IfNotModified}
    return ("update", entity, {"mode": UpdateMode.MERGE, **condition})


def deltas(before: Counted | None, after: Counted | None) -> dict[str, int]:
    """How each counter moves when a job's row goes from ``before`` to ``after``."""
    moves: dict[str, int] = {}
    for sign, counted in ((-1, before), (1, after)):
        for key in counted.counters() if counted else ():
            moves[key] = moves.get(key, 0) + sign
    return {k: d for k, d in moves.items() if d}


#: A counter as last seen: its value and ETag, or None when it did not exist.
Seen = tuple[int, str] | None


def index_operations(
    pk: str, before: Counted | None, after: Counted | None, counters: dict[str, Seen]
) -> list[tuple[Any, ...]]:
    """The transaction's operations beside the job row's: index rows deleted and added,
    counters changed under their ETags (``counters`` holds each one :func:`deltas` names)."""
    old = before.index_rows() if before else set()
    new = after.index_rows() if after else set()
    ops: list[tuple[Any, ...]] = [("delete", {"PartitionKey": pk, "RowKey": k}) for k in old - new]
    ops += [("upsert", {"PartitionKey": pk, "RowKey": k}) for k in new - old]
    for key, delta in sorted(deltas(before, after).items()):
        ops.append(counter_operation(pk, key, counters.get(key), delta))
    return ops


def counter_operation(pk: str, key: str, seen: Seen, delta: int) -> tuple[Any, ...]:
    entity = {"PartitionKey": pk, "RowKey": key}
    if seen is None:
        return ("create", {**entity, "n": delta})
    n, etag = seen
    condition = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
    if n + delta == 0:
        return ("delete", entity, condition)
    return ("update", {**entity, "n": n + delta}, {"mode": UpdateMode.REPLACE, **condition})


def seen_after(ops: Iterable[tuple[Any, ...]], results: list[Any]) -> dict[str, Seen]:
    """The counters as a committed transaction left them (from its own answers)."""
    out: dict[str, Seen] = {}
    for op, meta in zip(ops, results, strict=True):
        key = op[1]["RowKey"]
        if not key.startswith(("~c~", "~m~")):
            continue
        out[key] = None if op[0] == "delete" else (int(op[1]["n"]), meta["etag"])
    return out
