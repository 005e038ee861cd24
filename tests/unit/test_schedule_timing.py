"""When a schedule fires (shared/schedules/timing.py): cron in an IANA zone across the
daylight-saving changes (as Debian's cron and Hangfire do), intervals, start and end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.schedules.timing import Timing

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)


def cron(expr: str, tz: str = "Europe/London", **kw: datetime) -> Timing:
    return Timing(cron=expr, interval_seconds=None, timezone=tz, anchor=ANCHOR, **kw)


def local(times: list[datetime], tz: ZoneInfo = LONDON) -> list[str]:
    return [t.astimezone(tz).isoformat() for t in times]


def test_a_time_in_the_skipped_hour_runs_once_when_the_clocks_jump() -> None:
    # London, 29 March 2026: 01:00 GMT becomes 02:00 BST, so 01:30 never happens.
    timing = cron("30 1 * * *")
    got = timing.upcoming(datetime(2026, 3, 28, 12, tzinfo=UTC), 3)
    assert local(got) == [
        "2026-03-29T02:00:00+01:00",  # at the jump (01:00 UTC), once
        "2026-03-30T01:30:00+01:00",
        "2026-03-31T01:30:00+01:00",
    ]
    # The brief's example: 02:30 is skipped in New York (02:00 EST -> 03:00 EDT).
    ny = cron("30 2 * * *", "America/New_York").upcoming(datetime(2026, 3, 7, 12, tzinfo=UTC), 2)
    assert local(ny, NEW_YORK) == ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]


def test_a_time_in_the_repeated_hour_runs_once_at_its_first_occurrence() -> None:
    # London, 25 October 2026: 02:00 BST becomes 01:00 GMT, so 01:30 happens twice.
    timing = cron("30 1 * * *")
    got = timing.upcoming(datetime(2026, 10, 24, 12, tzinfo=UTC), 2)
    assert local(got) == ["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"]
    # Asked from inside the repeated hour (01:10 GMT, after the first 01:30): not again.
    assert local([timing.next_after(datetime(2026, 10, 25, 1, 10, tzinfo=UTC))]) == [  # type: ignore[list-item]
        "2026-10-26T01:30:00+00:00"
    ]


def test_every_n_minutes_runs_by_elapsed_time_through_the_repeated_hour() -> None:
    got = cron("*/30 * * * *").upcoming(datetime(2026, 10, 24, 23, 50, tzinfo=UTC), 5)
    assert local(got) == [
        "2026-10-25T01:00:00+01:00",
        "2026-10-25T01:30:00+01:00",
        "2026-10-25T01:00:00+00:00",
        "2026-10-25T01:30:00+00:00",
        "2026-10-25T02:00:00+00:00",
    ]
    hourly = cron("0 * * * *").upcoming(datetime(2026, 3, 28, 23, 30, tzinfo=UTC), 3)
    assert [t.isoformat() for t in hourly] == [
        "2026-03-29T00:00:00+00:00",
        "2026-03-29T01:00:00+00:00",  # 02:00 BST: the 01:00 GMT that was skipped
        "2026-03-29T02:00:00+00:00",
    ]


def test_six_fields_put_seconds_first_and_allow_one_second_a_minute() -> None:
    got = cron("15 30 1 * * *").upcoming(datetime(2026, 3, 28, 12, tzinfo=UTC), 2)
    assert local(got) == ["2026-03-29T02:00:15+01:00", "2026-03-30T01:30:15+01:00"]
    with pytest.raises(ValueError, match="seconds field"):
        cron("*/10 * * * * *")
    for bad in ("61 * * * *", "* * * *", "0 0 31 2 *"):
        with pytest.raises(ValueError):
            cron(bad)
    for bad_zone in ("Mars/Olympus", "Europe", "__pycache__", "/etc/passwd", ""):
        with pytest.raises(ValueError, match="IANA"):
            cron("* * * * *", bad_zone)


def test_an_interval_counts_elapsed_time_from_its_start_until_its_end() -> None:
    start = datetime(2026, 3, 29, 0, 20, tzinfo=UTC)
    timing = Timing(
        cron=None,
        interval_seconds=3600,
        timezone="Europe/London",
        anchor=ANCHOR,
        start_at=start,
        end_at=start + timedelta(hours=2),
    )
    assert timing.next_after(ANCHOR) == start, "not before its start"
    assert timing.upcoming(start, 5) == [start + timedelta(hours=1), start + timedelta(hours=2)]
    assert timing.latest_at_or_before(start + timedelta(minutes=150), start) == start + timedelta(
        hours=2
    )
    with pytest.raises(ValueError, match="at least 60"):
        Timing(cron=None, interval_seconds=10, timezone="UTC", anchor=ANCHOR)
    with pytest.raises(ValueError, match="not both"):
        Timing(cron="* * * * *", interval_seconds=60, timezone="UTC", anchor=ANCHOR)


def test_the_latest_fire_time_at_or_before_a_moment() -> None:
    timing = cron("30 1 * * *")
    since = datetime(2026, 1, 1, tzinfo=UTC)
    assert timing.latest_at_or_before(datetime(2026, 10, 25, 3, tzinfo=UTC), since) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    assert timing.latest_at_or_before(datetime(2026, 3, 29, 3, tzinfo=UTC), since) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )
    later = datetime(2026, 10, 25, 1, tzinfo=UTC)
    assert timing.latest_at_or_before(datetime(2026, 10, 25, 3, tzinfo=UTC), later) is None
    between = timing.between(
        datetime(2026, 10, 24, tzinfo=UTC), datetime(2026, 10, 27, tzinfo=UTC), 9
    )
    assert local(between) == [
        "2026-10-24T01:30:00+01:00",
        "2026-10-25T01:30:00+01:00",
        "2026-10-26T01:30:00+00:00",
    ]
