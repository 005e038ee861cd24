"""Health (shared/health.py): whether each backend answers."""

from __future__ import annotations

from tests.unit.conftest import Parts


async def test_health_reports_a_closed_backend(parts: Parts) -> None:
    assert (await parts.health.check())["ok"] is True
    parts.db.close()
    report = await parts.health.check()
    assert report["ok"] is False
    assert not report["checks"]["status_store"]["ok"]
