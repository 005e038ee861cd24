"""The retention timer also deletes the claims of schedule ticks older than the
retention period (a tick's claim lives as long as the job it made)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.adapters.sqlite import Database, SqliteResultStore, SqliteStatusStore
from shared.adapters.sqlite.schedules import SqliteScheduleStore
from shared.maintenance import Retention
from shared.schedules.model import TickClaim

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


async def test_retention_purges_tick_claims_older_than_the_retention_period(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "dtq.sqlite3")
    try:
        ticks = SqliteScheduleStore(db)
        for age in (timedelta(days=9), timedelta(days=7, minutes=1), timedelta(days=6)):
            await ticks.claim_tick(TickClaim("acme", "s1", NOW - age, NOW - age, "h"))
        retention = Retention(
            status=SqliteStatusStore(db),
            results=SqliteResultStore(db),
            schedules=ticks,
            retention_seconds=7 * 86400,
            clock=lambda: NOW,
        )
        purged = await retention.apply(batch=1)
        assert purged["schedule_ticks"] == 2
        left = await ticks.ticks("acme", "s1", 10)
        assert [t.tick_at for t in left] == [NOW - timedelta(days=6)]
    finally:
        db.close()
