"""Job ids: ULIDs in lower case, so they sort by the time they were made, which lets
retention read only the range of ids made before its cutoff (docs/storage.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ulid import ULID


def new_job_id() -> str:
    """A time-sortable id (ULID, lower case): newer jobs sort after older ones."""
    return str(ULID()).lower()


#: How far the clocks of the machines that make and finish jobs may disagree.
CLOCK_SKEW = timedelta(minutes=10)


def ids_made_before(at: datetime) -> str:
    """An id every job made before ``at`` sorts below (the first id of ``at``'s
    millisecond): job ids start with the time they were made."""
    return str(ULID.from_datetime(at.astimezone(UTC)))[:10].lower() + "0" * 16


def purge_bound(finished_before: datetime) -> str:
    """An id every job that finished before ``finished_before`` sorts below (a job is
    made before it finishes, give or take CLOCK_SKEW): retention reads only the range
    of ids below it, whatever else the store holds."""
    return ids_made_before(finished_before + CLOCK_SKEW)
