"""End to end on the local host: the provider job types against the local fake of their
APIs (a 429 is retried after its Retry-After; a burst over dtq's quota waits unspent,
whatever worker process runs it), and a user-defined job type enabled by a setting
alone (the example of docs/job-types.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import Api
from tests.support.fake_providers import FakeProviders
from tests.support.processes import ROOT, LocalHost, running_host

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def host(
    tmp_path_factory: pytest.TempPathFactory, fake_providers: FakeProviders
) -> Iterator[LocalHost]:
    env = {
        **fake_providers.environment(),
        "DTQ_JOB_TYPE_MODULES": "examples.word_count",
        "DTQ_RETRY_BACKOFF_BASE_SECONDS": "0.05",
        "DTQ_RETRY_AFTER_MAX_SECONDS": "0.3",  # QuoteSlate's fake asks for 2 s
        "DTQ_EXCHANGE_RATE_QUOTA": "2/hour",
    }
    with running_host(
        Path(tmp_path_factory.mktemp("dtq-job-types")), env=env, background_stop=True
    ) as local:
        yield local


def test_every_job_type_is_listed_with_its_schema(api: Api) -> None:
    listed = {t["job_type"]: t for t in api.job_types()}
    assert set(listed) == {
        "echo",
        "simulate",
        "weather",
        "quote",
        "exchange_rate",
        "github_user",
        "word_count",
    }
    assert listed["word_count"]["payload_schema"]["required"] == ["text"]
    assert listed["weather"]["payload_schema"]["properties"]["units"]["enum"] == [
        "metric",
        "imperial",
    ]


def test_a_provider_job_runs_through_the_host(api: Api, fake_providers: FakeProviders) -> None:
    fake_providers.reset()
    job_id = api.submit("weather", {"city": "Coimbra", "country_code": "PT"})["job_id"]
    done = api.wait(job_id)
    assert done["state"] == "completed", done
    result = api.result(job_id)
    assert result["city"] == "Coimbra" and result["conditions"] == "overcast"
    assert done["trace_id"] and done["progress"] == 100


def test_a_rate_limited_provider_is_retried_until_it_answers(
    api: Api, fake_providers: FakeProviders
) -> None:
    fake_providers.reset()
    fake_providers.set("quote", "429")
    job_id = api.submit("quote", {"category": "life"}, max_attempts=10)["job_id"]
    first = api.wait(job_id, lambda j: bool(j["errors"]))
    assert first["errors"][0]["type"] == "ProviderRateLimited"
    assert first["errors"][0]["retryable"] is True
    fake_providers.set("quote", "ok")
    done = api.wait(job_id)
    assert done["state"] == "completed" and done["attempt"] >= 2
    assert {e["type"] for e in done["errors"]} == {"ProviderRateLimited"}


def test_a_provider_not_found_is_dead_lettered_at_once(
    api: Api, fake_providers: FakeProviders
) -> None:
    fake_providers.reset()
    job_id = api.submit("github_user", {"username": "no-such-user-dtq"})["job_id"]
    done = api.wait(job_id)
    assert done["state"] == "failed" and done["attempt"] == 1
    assert done["dead_letter"]["reason"] == "NotFound"
    assert job_id in [j["job_id"] for j in api.dead_letters()["items"]]


def test_a_burst_over_the_quota_waits_without_spending_attempts(
    api: Api, fake_providers: FakeProviders
) -> None:
    fake_providers.reset()
    payload = {"base": "EUR", "symbols": ["USD"]}
    jobs = [api.submit("exchange_rate", payload, max_attempts=1)["job_id"] for _ in range(5)]
    states = {
        job_id: api.wait(job_id, lambda j: j["state"] in ("completed", "scheduled"))
        for job_id in jobs
    }
    done = [j for j in states.values() if j["state"] == "completed"]
    waiting = [j for j in states.values() if j["state"] == "scheduled"]
    assert len(done) == 2 and len(waiting) == 3, states
    assert len(fake_providers.requests("exchange_rate")) == 2, "over the quota, nothing is sent"
    for job in waiting:
        assert job["attempt"] == 0 and job["errors"] == [], "no attempt spent"
        assert "quota of 2 requests per hour to Frankfurter" in job["stage"]
        assert job["next_attempt_at"] is not None
    assert api.http.delete(f"/jobs/{waiting[0]['job_id']}").status_code in (200, 202)


def test_a_bad_username_is_refused_at_submit(api: Api, fake_providers: FakeProviders) -> None:
    fake_providers.reset()
    response = api.http.post(
        "/jobs", json={"job_type": "github_user", "payload": {"username": "../orgs/x"}}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "payload.username"
    assert fake_providers.requests("github") == []


def test_the_user_defined_job_type_runs(api: Api) -> None:
    job_id = api.submit("word_count", {"text": "the cat and the hat\nThe end", "top": 2})["job_id"]
    assert api.wait(job_id)["state"] == "completed"
    result = api.result(job_id)
    assert result == {
        "words": 7,
        "unique": 5,
        "top": [{"word": "the", "count": 3}, {"word": "cat", "count": 1}],
    }
    empty = api.submit("word_count", {"text": "1 2 3"})["job_id"]
    assert api.wait(empty)["dead_letter"]["reason"] == "PermanentFailure"


def test_the_guide_shows_the_example_as_it_is() -> None:
    guide = (ROOT / "docs" / "job-types.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.S)
    example = (ROOT / "examples" / "word_count.py").read_text()
    assert example in blocks, "docs/job-types.md must show examples/word_count.py verbatim"
