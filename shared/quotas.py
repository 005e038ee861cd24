"""How often dtq may call each provider: its quotas, and the pauses its rate limits ask.

Two things keep a burst of jobs from earning a ban (docs/job-types.md has each API's
own terms), both kept in the store, so every worker process and every instance on one
store shares them, as they share the provider's per-IP limit (Flex Consumption
instances share outbound addresses):

- **Quotas**, counted in the rate counters (:class:`shared.ports.RateCounters`). A
  request over a quota is never sent: the job is deferred (:class:`JobDeferred`, no
  attempt spent) to the window's end.
- **Pauses**: after a rate-limit answer the provider is paused for the wait that answer
  asked (its header, or its body, or the API's documented reset), or when it says
  nothing, for the provider's floor, doubled for each rate limit in a row until a call
  goes through. The pause is written as a marker (:meth:`StatusStore.put_marker`) and
  read before each call; jobs that would call the provider meanwhile are deferred too.

A quota is written ``<requests>/<period>``, with periods ``second``, ``minute``,
``hour`` or a number of them (``90/15minute``); several are separated by commas
(``500/minute,4000/hour``); ``none`` for no quota. Windows are fixed and aligned to the
epoch, and no longer than an hour (the counters older than that are purged). A request
that one quota refuses may already have been counted by an earlier one of the same
provider, which errs on the side of sending less.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from shared.jobtypes.errors import JobDeferred
from shared.ports import RateCounters

PERIODS = {"second": 1, "minute": 60, "hour": 3600}
_QUOTA = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour)s?\s*$")
#: Longest pause a rate limit can impose: Open-Meteo's daily limit resets at midnight UTC.
MAX_PAUSE_SECONDS = 25 * 3600.0


class Markers(Protocol):
    """Where pauses are kept (the status store's markers)."""

    async def get_marker(self, name: str) -> str | None: ...

    async def put_marker(self, name: str, value: str) -> None: ...


@dataclass(frozen=True)
class Quota:
    requests: int
    period_seconds: int

    def __str__(self) -> str:
        return f"{self.requests}/{self.period_seconds}s"


def parse_quotas(text: str) -> tuple[Quota, ...]:
    """``"500/minute,4000/hour"`` as quotas (``none``: no quota); ValueError naming what
    is wrong."""
    if text.strip().lower() == "none":
        return ()
    quotas = []
    for part in filter(str.strip, text.split(",")):
        match = _QUOTA.match(part)
        if match is None:
            raise ValueError(f"{part.strip()!r} is not a quota such as 500/minute or 90/15minute")
        requests, count, unit = int(match[1]), int(match[2] or 1), match[3]
        period = count * PERIODS[unit]
        if requests < 1 or not 1 <= period <= 3600:
            raise ValueError(f"{part.strip()!r}: needs 1 request or more, per 1 s to 1 hour")
        quotas.append(Quota(requests, period))
    return tuple(quotas)


class ProviderQuotas:
    """The quotas and pauses of every provider. Without ``counters`` nothing is counted,
    and without ``markers`` pauses stay in this process."""

    def __init__(
        self,
        quotas: dict[str, tuple[Quota, ...]] | None = None,
        counters: RateCounters | None = None,
        markers: Markers | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.quotas = quotas or {}
        self.counters = counters
        self.markers = markers
        self.clock = clock
        self._paused: dict[str, tuple[float, str]] = {}
        self._strikes: dict[str, int] = {}
        self._lock = threading.Lock()  # one process may run several event loops

    async def take(self, provider: str, title: str) -> None:
        """Count one request to ``provider``, or JobDeferred when it is paused or a quota
        of it is used up (then nothing is counted and nothing may be sent)."""
        now = self.clock()
        until, why = await self._pause_of(provider)
        if until > now:
            raise JobDeferred(f"{title} asked dtq to wait ({why})", until - now)
        if self.counters is None:
            return
        for quota in self.quotas.get(provider, ()):
            start = math.floor(now / quota.period_seconds) * quota.period_seconds
            window = datetime.fromtimestamp(start, UTC)
            key = f"provider:{provider}:{quota.period_seconds}"  # windows may start alike
            if not await self.counters.add(key, window, 1, quota.requests):
                left = start + quota.period_seconds - now
                raise JobDeferred(
                    f"dtq's quota of {quota.requests} requests per"
                    f" {_period(quota.period_seconds)} to {title} is used up",
                    left,
                )

    async def pause(
        self, provider: str, asked: float | None, floor: float, why: str, *, strike: bool = True
    ) -> float:
        """Pause ``provider`` after a rate-limit answer: for the wait the answer ``asked``,
        else ``floor`` doubled for each earlier rate limit in a row (``strike``: this
        answer was refused; a 2xx that used up a limit pauses without counting one).
        Returns the pause, which the job that met the limit waits too."""
        with self._lock:
            strikes = self._strikes.get(provider, 0)
            if strike:
                self._strikes[provider] = strikes + 1
            wait = asked if asked is not None else floor * 2**strikes
            wait = min(MAX_PAUSE_SECONDS, max(1.0, wait))
            until = self.clock() + wait
            longer = until > self._paused.get(provider, (0.0, ""))[0]
            if longer:
                self._paused[provider] = (until, why)
        if longer and self.markers is not None:
            stored, _ = await self._stored_pause(provider)
            if until > stored:
                value = json.dumps({"until": until, "why": why[:500]})
                await self.markers.put_marker(f"pause.{provider}", value)
        return wait

    def succeeded(self, provider: str) -> None:
        """A call went through: the next rate limit starts from the floor again."""
        if provider in self._strikes:
            with self._lock:
                self._strikes.pop(provider, None)

    async def _pause_of(self, provider: str) -> tuple[float, str]:
        """(until, why) of the provider's pause, the longer of this process's and the
        store's."""
        with self._lock:
            mine = self._paused.get(provider, (0.0, ""))
        if self.markers is None:
            return mine
        stored = await self._stored_pause(provider)
        return max(mine, stored)

    async def _stored_pause(self, provider: str) -> tuple[float, str]:
        assert self.markers is not None
        text = await self.markers.get_marker(f"pause.{provider}")
        try:
            value = json.loads(text) if text else {}
            return float(value.get("until", 0.0)), str(value.get("why", ""))
        except (ValueError, TypeError, AttributeError):
            return 0.0, ""


def _period(seconds: int) -> str:
    for unit, size in reversed(PERIODS.items()):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} s"
