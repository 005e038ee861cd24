"""When a schedule fires: a cron expression read in an IANA time zone, or a fixed
interval, between an optional start and end (docs/schedules.md).

Cron is evaluated by ``cronsim`` (healthchecks.io's evaluator), which handles daylight
saving time as Debian's (Vixie) cron does, and as Hangfire's Cronos does for jobs at a
fixed time: a time in the hour skipped when clocks go forward runs once, at the moment
the clocks jump; a time in the hour repeated when they go back runs once, at its first
occurrence. Expressions with ``*`` in the minute or the hour field (every N minutes,
hourly) run by elapsed time: on the repeated hour they run in both occurrences, and
nothing is run twice for the skipped one. An interval counts elapsed seconds from the
schedule's start (its creation time if none), whatever the zone's clocks do.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

#: Shortest interval: ticks are looked for by a timer that runs about once a minute.
MIN_INTERVAL_SECONDS = 60.0
EPSILON = timedelta(microseconds=1)


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError if there is none."""
    try:
        if name in _zone_names():  # not a folder of the database, nor a file beside it
            return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/London)")


def split_cron(expr: str) -> tuple[str, int]:
    """A five-field expression and the seconds past each of its minutes. Six fields are
    NCRONTAB's (seconds first); the seconds must be one number, 0 to 59 (a schedule
    fires at most once a minute). ValueError if the expression is not valid."""
    fields = expr.split()
    seconds = 0
    if len(fields) == 6:
        if not (fields[0].isdigit() and int(fields[0]) < 60):
            raise ValueError("the seconds field (the first of six) must be one number, 0 to 59")
        seconds, fields = int(fields[0]), fields[1:]
    if len(fields) != 5:
        raise ValueError("a cron expression has 5 fields (or 6, seconds first)")
    five = " ".join(fields)
    try:
        CronSim(five, datetime(2026, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ValueError(f"not a valid cron expression: {exc}") from None
    return five, seconds


class Timing:
    """The fire times of one schedule."""

    def __init__(
        self,
        *,
        cron: str | None,
        interval_seconds: float | None,
        timezone: str,
        anchor: datetime,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
    ) -> None:
        if (cron is None) == (interval_seconds is None):
            raise ValueError("a schedule has a cron expression or an interval, not both")
        if interval_seconds is not None and interval_seconds < MIN_INTERVAL_SECONDS:
            raise ValueError(f"the interval is at least {MIN_INTERVAL_SECONDS:g} seconds")
        self.zone = zone(timezone)
        self.cron = split_cron(cron) if cron is not None else None
        self.interval = None if interval_seconds is None else timedelta(seconds=interval_seconds)
        self.anchor = start_at or anchor
        self.start_at = start_at
        self.end_at = end_at

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after`` (UTC), None past the end."""
        if self.start_at is not None and after < self.start_at:
            after = self.start_at - EPSILON
        found = self._cron_after(after) if self.cron else self._interval_after(after)
        if found is None or (self.end_at is not None and found > self.end_at):
            return None
        return found

    def upcoming(self, after: datetime, n: int) -> list[datetime]:
        """The next ``n`` fire times after ``after`` (fewer if the schedule ends)."""
        out: list[datetime] = []
        at: datetime | None = after
        while len(out) < n and at is not None:
            at = self.next_after(at)
            if at is not None:
                out.append(at)
        return out

    def between(self, first: datetime, last: datetime, cap: int) -> list[datetime]:
        """Up to ``cap`` fire times t with ``first <= t <= last``, earliest first."""
        out: list[datetime] = []
        at = self.next_after(first - EPSILON)
        while at is not None and at <= last and len(out) < cap:
            out.append(at)
            at = self.next_after(at)
        return out

    def latest_at_or_before(self, at: datetime, not_before: datetime) -> datetime | None:
        """The last fire time t with ``not_before <= t <= at``, or None."""
        found: datetime | None
        if self.interval is not None:
            steps = math.floor((at - self.anchor) / self.interval)
            found = self.anchor + steps * self.interval
        else:
            found = self._cron_at_or_before(at)
        if found is None or found < not_before or found > at:
            return None
        if self.start_at is not None and found < self.start_at:
            return None
        return found if self.end_at is None or found <= self.end_at else None

    def _interval_after(self, after: datetime) -> datetime:
        assert self.interval is not None
        if after < self.anchor:
            return self.anchor
        steps = math.floor((after - self.anchor) / self.interval) + 1
        return self.anchor + steps * self.interval

    def _times(self, start: datetime, reverse: bool = False) -> Iterator[datetime]:
        assert self.cron is not None
        five, seconds = self.cron
        local = (start - timedelta(seconds=seconds)).astimezone(self.zone)
        for at in CronSim(five, local, reverse=reverse):
            # To UTC first: adding to a local time would lose its fold (the second 01:30).
            yield at.astimezone(UTC) + timedelta(seconds=seconds)

    def _cron_after(self, after: datetime) -> datetime | None:
        for at in self._times(after):
            # A wall-clock time read after a repeated hour can name its first occurrence,
            # which is before ``after``: look on.
            if at > after:
                return at
        return None

    def _cron_at_or_before(self, at: datetime) -> datetime | None:
        for found in self._times(at + timedelta(seconds=1), reverse=True):
            if found <= at:
                return found
        return None
