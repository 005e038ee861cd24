"""Operators' endpoints: Prometheus metrics (local host) at /api/metrics."""

from __future__ import annotations

import azure.functions as func

from functions.api import caller_of
from functions.endpoint import endpoint
from functions.problems import HttpProblem
from functions.runtime import runtime
from shared.metrics import Gauges

bp = func.Blueprint()

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@bp.route(route="metrics", methods=["GET"])
@endpoint
async def metrics(req: func.HttpRequest) -> func.HttpResponse:
    """Every process's counters and histograms (every tenant's jobs), plus gauges read
    from the stores now (the operator's own jobs by state and DLQ, each queue's messages,
    live workers). Only the operator may read them: 401 without credentials, 403 for a
    tenant's key (docs/observability.md)."""
    rt = runtime()
    caller = await caller_of(req)
    if not caller.operator:
        raise HttpProblem(
            403,
            "Forbidden",
            "the metrics cover every tenant: they need an operator key (an API key whose"
            " id DTQ_OPERATOR_KEY_IDS lists)",
        )
    if rt.metrics.prometheus is None:
        raise HttpProblem(
            404,
            "Not found",
            "Prometheus metrics are served by the local host (dtq serve); in Azure the"
            " same metrics go to Application Insights",
        )
    stats = await rt.stats.collect(caller.tenant_id, rt.workers, operator=True)
    queue_messages = [
        ({"queue": q["queue"], "priority": priority, "state": state}, float(q[state]))
        for priority, q in stats["queues"].items()
        for state in ("active", "scheduled", "dead_lettered")
    ]
    gauges: Gauges = {
        "dtq_jobs": (
            "The operator's own jobs by state, now.",
            [({"state": s}, float(n)) for s, n in stats["jobs"]["by_state"].items()],
        ),
        "dtq_dead_letter_jobs": (
            "The operator's own jobs in the dead-letter queue.",
            [({}, float(stats["dead_letter"]["jobs"]))],
        ),
        "dtq_queue_messages": ("Messages in each queue, by state.", queue_messages),
    }
    if "workers" in stats:
        gauges["dtq_workers"] = (
            "Worker processes heard from lately.",
            [({}, float(len(stats["workers"])))],
        )
    return func.HttpResponse(
        rt.metrics.exposition(gauges), status_code=200, headers={"Content-Type": PROMETHEUS_TEXT}
    )
