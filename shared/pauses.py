"""Pauses of processing, per job type and per priority, for every tenant or for one
(docs/pauses.md).

A pause is a marker in the status store (:meth:`StatusStore.put_marker`), one per job
type or priority and scope, so every worker process, every instance and both hosts on
one store share it, and two callers pausing different things at once cannot overwrite
each other. A pause for every tenant is the operator's to set or clear; a tenant may
pause its own jobs of a job type or priority (functions/pauses.py).

A worker that is handed a job of a paused type or priority does not start it: the job
keeps its state (``queued``, ``scheduled`` or ``retrying``) and its attempt count, its
stage says ``paused``, and a copy of its message is sent due one re-check interval
later (:meth:`shared.worker.Worker._send_later`, the path a tenant at its running cap
takes). Workers read the markers through a cache of a few seconds, so a busy worker
does not read the store for each message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Literal, cast

from shared.jobs import Job, JobState, Priority, iso_utc, utcnow
from shared.quotas import Markers

Kind = Literal["job_type", "priority"]
#: The stage text of a job a pause holds (the UI and the API show it).
PAUSED_STAGE = "paused"
#: The states a job a pause holds may be in: the ones a delivery starts an attempt from.
HELD_STATES = frozenset({JobState.QUEUED, JobState.SCHEDULED, JobState.RETRYING})
#: Markers a process keeps read (the oldest go once it has this many: tenants are many).
MAX_CACHED = 10_000
_MARKER_SAFE = re.compile(r"^[A-Za-z0-9_.@-]{1,150}$")


@dataclass(frozen=True)
class Pause:
    """A job type or a priority whose jobs are held (a tenant's only, or every tenant's
    when ``tenant`` is empty): since when, by whom, and why."""

    kind: Kind
    value: str
    since: str
    by: str = ""
    reason: str = ""
    tenant: str = ""

    def to_public(self) -> dict[str, str | None]:
        return {**asdict(self), "tenant": self.tenant or None}


def marker_of(kind: Kind, value: str, tenant: str = "") -> str:
    """The marker that holds the pause of this job type or priority, for every tenant or
    for ``tenant`` (a name that no marker may carry is replaced by its hash; a tenant's
    always is, so no tenant's marker can be another's or a pause for every tenant's)."""
    if tenant:
        scoped = "\0".join((tenant, kind, value)).encode()
        return "paused-tenant." + hashlib.sha256(scoped).hexdigest()[:40]
    if not _MARKER_SAFE.match(value):
        value = "h" + hashlib.sha256(value.encode()).hexdigest()[:40]
    return f"paused.{kind}.{value}"


class Pauses:
    """The pauses, kept as markers; ``job_types`` lists the types that may be paused.
    ``recheck_seconds``: how long a held job's message waits before it is delivered
    again; ``cache_seconds``: how long a worker trusts the markers it read."""

    def __init__(
        self,
        markers: Markers,
        job_types: Callable[[], Iterable[str]],
        recheck_seconds: float = 5.0,
        cache_seconds: float = 2.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.markers = markers
        self.job_types = job_types
        self.recheck_seconds = recheck_seconds
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[str, tuple[float, Pause | None]] = {}

    def check(self, kind: Kind, value: str) -> None:
        """ValueError unless ``value`` is a job type or a priority that exists."""
        known = list(self.job_types()) if kind == "job_type" else [p.value for p in Priority]
        if value not in known:
            raise ValueError(f"{kind} {value!r} is not one of {', '.join(sorted(known))}")

    async def pause(
        self, kind: Kind, value: str, *, tenant: str = "", by: str = "", reason: str = ""
    ) -> tuple[Pause, bool]:
        """Hold the jobs of this job type or priority (``tenant``'s only, or every
        tenant's): the pause, and whether it is new (pausing again keeps the first)."""
        self.check(kind, value)
        current = await self._read(kind, value, tenant)
        if current is not None:
            return current, False
        pause = Pause(kind, value, iso_utc(utcnow()), by, reason[:500], tenant)
        name = marker_of(kind, value, tenant)
        await self.markers.put_marker(name, json.dumps(pause.to_public()))
        self._cache.pop(name, None)
        return pause, True

    async def resume(self, kind: Kind, value: str, tenant: str = "") -> Pause | None:
        """Let the jobs of this job type or priority run again (the pause of ``tenant``,
        or the one of every tenant); the pause it ended, or None when there was none."""
        self.check(kind, value)
        current = await self._read(kind, value, tenant)
        name = marker_of(kind, value, tenant)
        if current is not None:
            await self.markers.put_marker(name, json.dumps({"paused": False}))
        self._cache.pop(name, None)
        return current

    async def listed(self, tenant: str = "") -> list[Pause]:
        """The pauses in force for every tenant, then ``tenant``'s own: the priorities',
        then the job types' (one marker read each, at once, through the cache: the
        stats, which a page polls, ask for them)."""
        wanted: list[tuple[Kind, str]] = [("priority", p.value) for p in Priority]
        wanted += [("job_type", name) for name in sorted(self.job_types())]
        scopes = [""] + ([tenant] if tenant else [])
        found = await asyncio.gather(
            *(self._cached(kind, value, scope) for scope in scopes for kind, value in wanted)
        )
        return [p for p in found if p is not None]

    async def holding(self, job: Job) -> Pause | None:
        """The pause that holds ``job`` (its priority's, else its type's; for every
        tenant, else for its own), or None; read through the cache."""
        for scope in ("", job.tenant_id):
            for kind, value in (("priority", job.priority.value), ("job_type", job.job_type)):
                pause = await self._cached(cast(Kind, kind), value, scope)
                if pause is not None:
                    return pause
        return None

    @staticmethod
    def held(job: Job) -> Job | None:
        """``job`` with the stage that says a pause holds it (None when it says so
        already): no state change, and its attempt count stays."""
        if job.state not in HELD_STATES or job.stage == PAUSED_STAGE:
            return None
        return job.model_copy(update={"stage": PAUSED_STAGE})

    async def _cached(self, kind: Kind, value: str, tenant: str = "") -> Pause | None:
        name, now = marker_of(kind, value, tenant), self.clock()
        hit = self._cache.get(name)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        pause = await self._read(kind, value, tenant)
        if len(self._cache) >= MAX_CACHED:  # one entry per tenant, kind and value seen
            self._cache = {k: v for k, v in self._cache.items() if now - v[0] < self.cache_seconds}
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
        self._cache[name] = (now, pause)
        return pause

    async def _read(self, kind: Kind, value: str, tenant: str = "") -> Pause | None:
        text = await self.markers.get_marker(marker_of(kind, value, tenant))
        try:
            data = json.loads(text) if text else {}
            if not isinstance(data, dict) or not data.get("since"):
                return None
            return Pause(
                kind,
                value,
                str(data["since"]),
                str(data.get("by", "")),
                str(data.get("reason", "")),
                tenant,
            )
        except ValueError:
            return None
