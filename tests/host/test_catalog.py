"""The local host reads the app object as the Functions host does."""

from __future__ import annotations

from pathlib import Path

import azure.functions as func
import pytest

from dtq.host.catalog import build_catalog, compile_route
from dtq.host.config import HostConfig, parse_timespan
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("template", "path", "params"),
    [
        ("v1/jobs", "/v1/jobs", {}),
        ("v1/jobs/{job_id}", "/v1/jobs/abc", {"job_id": "abc"}),
        ("v1/jobs/{job_id:alpha}", "/v1/jobs/abc", {"job_id": "abc"}),
        ("v1/jobs/{job_id}/result", "/v1/jobs/a1/result", {"job_id": "a1"}),
        ("files/{*rest}", "/files/a/b/c", {"rest": "a/b/c"}),
        ("items/{id?}", "/items", {}),
        ("items/{id?}", "/items/7", {"id": "7"}),
    ],
)
def test_route_templates_match(template: str, path: str, params: dict[str, str]) -> None:
    pattern, _ = compile_route(template)
    m = pattern.fullmatch(path)
    assert m is not None
    assert {k: v for k, v in m.groupdict().items() if v is not None} == params


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("v1/jobs/{job_id}", "/v1/jobs"),
        ("v1/jobs/{job_id}", "/v1/jobs/a/b"),
        ("v1/jobs", "/v1/job"),
    ],
)
def test_route_templates_reject(template: str, path: str) -> None:
    assert compile_route(template)[0].fullmatch(path) is None


def test_literal_routes_win_over_parameters() -> None:
    app = func.FunctionApp()

    @app.route(route="v1/jobs/{job_id}", methods=["GET"])
    def by_id(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("id")

    @app.route(route="v1/jobs/stats", methods=["GET"])
    def stats(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("stats")

    catalog = build_catalog(app, Settings.load(None))
    fn, params, _ = catalog.route("GET", "/v1/jobs/stats")
    assert fn is not None and fn.name == "stats" and params == {}
    fn, params, _ = catalog.route("GET", "/v1/jobs/123")
    assert fn is not None and fn.name == "by_id" and params == {"job_id": "123"}
    fn, _, known = catalog.route("POST", "/v1/jobs/123")
    assert fn is None and known, "a known path with the wrong method (405, not 404)"


def test_the_real_app_indexes_with_resolved_queue_names() -> None:
    import function_app

    catalog = build_catalog(
        function_app.app,
        Settings.load(None, jobs_queue="my-queue", jobs_queue_low="slow", webhooks_queue="hooks"),
    )
    assert {q.name: q.queue_name for q in catalog.queues} == {
        "run_job_high": "dtq-jobs-high",
        "run_job": "my-queue",
        "run_job_low": "slow",
        "deliver_webhook": "hooks",
    }
    assert {q.connection for q in catalog.queues} == {"ServiceBusConnection"}
    routes = {(f.template, m) for f in catalog.http for m in f.methods}
    assert ("v1/jobs", "POST") in routes and ("v1/jobs/{job_id}", "DELETE") in routes


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:05:00", 300),
        ("00:00:30", 30),
        ("01:00:00", 3600),
        ("1.02:00:00", 93600),
        ("00:00:01.5", 1.5),
    ],
)
def test_timespans(text: str, seconds: float) -> None:
    assert parse_timespan(text) == seconds


def test_host_json_is_what_the_local_host_applies() -> None:
    config = HostConfig.load(ROOT)
    assert config.route_prefix == "api"
    assert config.auto_complete_messages is True, "the worker relies on host settlement"
    assert config.max_concurrent_calls >= 1
    assert config.function_timeout == 660
    # The lock is renewed for the whole invocation (tests/unit/test_timing_budget.py).
    assert config.max_auto_lock_renewal >= config.function_timeout
