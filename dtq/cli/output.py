"""How the CLI shows things to people: tables, progress bars, jobs, stats.

``--json`` bypasses all of this and prints the API's own JSON."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, TextIO

BAR_WIDTH = 24


def emit_json(data: Any, out: TextIO = sys.stdout) -> None:
    print(json.dumps(data, indent=2, sort_keys=False), file=out)


def when(iso: str | None) -> str:
    if not iso:
        return "-"
    at = datetime.fromisoformat(iso).astimezone()
    return (
        at.strftime("%H:%M:%S")
        if at.date() == datetime.now().astimezone().date()
        else at.strftime("%Y-%m-%d %H:%M")
    )


def bar(progress: int) -> str:
    filled = round(BAR_WIDTH * max(0, min(100, progress)) / 100)
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {progress:3d}%"


def table(headings: list[str], rows: list[list[str]], out: TextIO = sys.stdout) -> None:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headings)
    ]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    print(line(headings), file=out)
    for row in rows:
        print(line(row), file=out)


def page_table(
    headings: list[str], rows: list[list[str]], empty: str, page: dict[str, Any], more: str
) -> None:
    """One page of a list: its table, ``empty`` when it has no rows, and the command
    (``more`` with the page's cursor) that prints the next page."""
    table(headings, rows)
    if not rows:
        print(empty)
    if page.get("next_cursor"):
        print(f"more: {more} --cursor {page['next_cursor']}")


def pause_line(p: dict[str, Any]) -> str:
    """One pause (as /api/v1/pauses answers it): what, whose jobs, since when, by whom, why."""
    kind = "type" if p["kind"] == "job_type" else "priority"
    why = f"  ({p['reason']})" if p.get("reason") else ""
    whose = f"tenant {p['tenant']}" if p.get("tenant") else "every tenant"
    since = when(p["since"])
    return f"{kind} {p['value']} ({whose})  paused {since} by {p['by'] or '-'}{why}"


def status_line(job: dict[str, Any]) -> str:
    """One line for a job's current state: the bar, stage, state and attempt."""
    stage = f"  {job['stage']}" if job.get("stage") else ""
    attempt = f"attempt {job['attempt']}/{job['max_attempts']}"
    return f"{bar(job['progress'])}  {job['state']} ({attempt}){stage}"


def job_rows(jobs: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            j["job_id"],
            j["job_type"],
            j["state"],
            f"{j['progress']}%",
            f"{j['attempt']}/{j['max_attempts']}",
            j.get("priority", "normal"),
            when(j["updated_at"]),
        ]
        for j in jobs
    ]


JOB_HEADINGS = ["JOB ID", "TYPE", "STATE", "PROGRESS", "ATTEMPT", "PRIORITY", "UPDATED"]


def show_job(job: dict[str, Any], result: Any = None, out: TextIO = sys.stdout) -> None:
    p = lambda text="": print(text, file=out)  # noqa: E731
    p(f"{job['job_type']} job {job['job_id']}")
    p(
        f"  state      {job['state']}"
        + (
            "  (cancel requested)"
            if job.get("cancel_requested_at") and job["state"] == "running"
            else ""
        )
    )
    p(f"  progress   {status_line(job)}")
    p(f"  priority   {job.get('priority', 'normal')}")
    p(f"  trace id   {job['trace_id']}")
    for label, key in (
        ("created", "created_at"),
        ("started", "started_at"),
        ("finished", "finished_at"),
        ("next try", "next_attempt_at"),
    ):
        if job.get(key):
            p(f"  {label:<10} {job[key]}")
    p(f"  payload    {json.dumps(job['payload'])}")
    if job.get("dead_letter"):
        dead = job["dead_letter"]
        p(f"  dead letter {dead['reason']}: {dead['description']}")
    for error in job.get("errors") or []:
        kind = "retryable" if error["retryable"] else "permanent"
        p(f"  attempt {error['attempt']} failed ({kind}) {error['type']}: {error['message']}")
    if result is not None:
        p("  result")
        for line in json.dumps(result, indent=2).splitlines():
            p(f"    {line}")


def show_stats(stats: dict[str, Any], out: TextIO = sys.stdout) -> None:
    p = lambda text="": print(text, file=out)  # noqa: E731
    by_state = stats["jobs"]["by_state"]
    p(f"jobs: {stats['jobs']['total']}  " + "  ".join(f"{s} {n}" for s, n in by_state.items()))
    p(f"completed in the last hour: {stats['completed_last_hour']}")
    dead = stats["dead_letter"]
    if "messages" in dead:
        p(f"dead-letter queue: {dead['jobs']} jobs, {dead['messages']} queue messages")
    else:
        p(f"dead-letter queue: {dead['jobs']} jobs")
    for pause in stats.get("pauses", []):
        p(f"paused: {pause_line(pause)}")
    if not stats.get("queues"):  # a keyed tenant: the queues and workers are the operator's
        p("queues and worker processes: shown to the operator only")
        return
    p()
    table(
        ["PRIORITY", "QUEUE", "READY", "SCHEDULED", "DEAD-LETTERED"],
        [
            [name, q["queue"], str(q["active"]), str(q["scheduled"]), str(q["dead_lettered"])]
            for name, q in stats["queues"].items()
        ],
        out,
    )
    if "workers" in stats:
        p()
        table(
            ["WORKER", "PID", "HOST", "RUNNING", "JOBS RUN", "LAST SEEN"],
            [
                [
                    w["worker_id"],
                    str(w["pid"]),
                    w["hostname"],
                    str(w["in_flight"]),
                    str(w["invocations"]),
                    when(w["last_seen"]),
                ]
                for w in stats["workers"]
            ],
            out,
        )
