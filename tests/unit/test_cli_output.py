"""``dtq stats`` prints what the API gives the caller: all of it for the operator, the
tenant's own counts for a keyed tenant (no queues, workers or queue messages)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from dtq.cli.output import show_stats

JOBS = {"total": 2, "by_state": {"queued": 1, "completed": 1}, "by_type": {"echo": {}}}


def printed(stats: dict[str, Any]) -> str:
    out = io.StringIO()
    show_stats(stats, out)
    return out.getvalue()


#: A keyed tenant's stats: no queues or workers (they are the operator's).
TENANT_STATS = {
    "scope": "tenant",
    "jobs": JOBS,
    "completed_last_hour": 1,
    "dead_letter": {"jobs": 0},
    "queues": {},
}


def test_a_keyed_tenants_stats_print_without_the_shared_figures() -> None:
    text = printed(TENANT_STATS)

    assert "dead-letter queue: 0 jobs" in text
    assert "shown to the operator only" in text
    assert "PRIORITY" not in text


def test_the_operators_stats_print_the_queues() -> None:
    queue = {"queue": "dtq-jobs", "active": 3, "scheduled": 1, "dead_lettered": 0}
    text = printed(
        {
            "scope": "operator",
            "jobs": JOBS,
            "completed_last_hour": 1,
            "dead_letter": {"jobs": 0, "messages": 2},
            "queues": {"normal": queue},
        }
    )

    assert "0 jobs, 2 queue messages" in text
    assert "dtq-jobs" in text and "PRIORITY" in text


def test_a_full_disk_tells_when_to_try_again(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dtq.cli import main
    from dtq.client import ApiClient, ApiProblem

    def full(self: ApiClient, *args: Any, **kwargs: Any) -> Any:
        raise ApiProblem(507, "Insufficient storage", "the job store's disk is full", [], "30")

    monkeypatch.setattr(ApiClient, "submit", full)
    code = main(["submit", "--url", "http://127.0.0.1:9", "echo", '{"message": "x"}'])

    assert code == 1
    assert "Try again in 30 s." in capsys.readouterr().err


def test_the_stats_say_whose_jobs_each_pause_holds() -> None:
    """dtq stats prints each pause as dtq pauses does: for every tenant, or one's."""
    since = "2026-11-29T10:00:00Z"
    pauses = [
        {
            "kind": "priority",
            "value": "low",
            "since": since,
            "by": "ops",
            "reason": "",
            "tenant": None,
        },
        {
            "kind": "job_type",
            "value": "echo",
            "since": since,
            "by": "k1",
            "reason": "x",
            "tenant": "acme",
        },
    ]
    text = printed({**TENANT_STATS, "pauses": pauses})
    assert "paused: priority low (every tenant)" in text
    assert "paused: type echo (tenant acme)" in text and "by k1  (x)" in text
