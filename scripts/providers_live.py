"""Run each provider job type against the real public APIs (needs the internet).

    .venv/bin/python scripts/providers_live.py        # or: make providers-live

Runs the plain cases and the revealing ones (a city that a plain search ranks 19th, a
currency the ECB does not publish, a large amount in a small-unit currency, a
category, a login that looks made up but is real), and prints what a user would see:
the normalised result, the submit-time validation error (the API's 422), or the
error and whether dtq would retry it. The client has no quotas (they need a store),
but a rate limit still pauses its provider for the rest of the run.

Exits 0 when every case came out as expected (an answer, or the 422 the case is there
to show), 1 when one did not, 2 when no provider could be reached at all (no internet
here), so a CI step can tell "broken" from "offline".
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.composition import build_registry
from shared.errors import ValidationFailed
from shared.jobtypes import JobContext
from shared.jobtypes.errors import JobDeferred, JobFailure, ProviderTimeout, ProviderUnavailable
from shared.providers import ProviderClient
from shared.settings import Settings


@dataclass(frozen=True)
class Case:
    job_type: str
    payload: dict[str, Any]
    #: What to look at in the output.
    note: str = ""
    #: The payload must be refused at submit (422), before any request.
    refused: bool = False


CASES: list[Case] = [
    Case("weather", {"city": "Lisbon", "country_code": "PT", "units": "metric"}),
    Case(
        "weather",
        {"city": "Lancaster", "country_code": "GB"},
        "Lancaster in England; a plain search ranks it 19th, after US towns",
    ),
    Case("weather", {"city": "Lancaster", "country_code": "UK"}, "refused: use GB", True),
    Case("quote", {"category": "wisdom"}),
    Case("quote", {"category": "courage"}, "a quote whose categories include courage"),
    Case("exchange_rate", {"base": "USD", "symbols": ["EUR", "GBP", "JPY"], "amount": 100}),
    Case(
        "exchange_rate",
        {"base": "USD", "symbols": ["EUR", "AED"]},
        "refused: AED is not an ECB reference currency",
        True,
    ),
    Case(
        "exchange_rate",
        {"base": "IDR", "symbols": ["EUR"], "amount": 1_000_000},
        "EUR to the cent from Frankfurter, not 1,000,000 x the rounded rate 0.000057 (57.00)",
    ),
    Case("github_user", {"username": "octocat"}),
    Case("github_user", {"username": "ghost"}, "a real account: GitHub's deleted-user placeholder"),
]


def refusal(exc: ValidationFailed) -> str:
    fields = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    return f"{exc.detail} ({fields})" if fields else exc.detail


async def main() -> int:
    settings = Settings.load()
    client = ProviderClient(settings.provider_timeout_seconds)
    registry = build_registry(settings, client)
    wrong = sent = unreachable = 0

    async def quiet(progress: int, stage: str | None) -> bool:
        return False

    try:
        for case in CASES:
            name, kind = case.job_type, registry.get(case.job_type)
            label = f"{name} {json.dumps(case.payload, ensure_ascii=False)}"
            if case.note:
                print(f"     {label}: expect {case.note}")
            try:
                payload = kind.parse(case.payload)
            except ValidationFailed as exc:
                mark = "422 " if case.refused else "FAIL"
                wrong += not case.refused
                print(f"{mark} {label}: refused at submit: {refusal(exc)}")
                continue
            if case.refused:
                wrong += 1
                print(f"FAIL {label}: accepted at submit, but should be refused")
                continue
            ctx = JobContext(name, "live", name, 1, 1, "0" * 32, None, quiet)
            sent += 1
            try:
                result = await kind.handler(payload, ctx)
            except JobDeferred as exc:
                wrong += 1
                print(f"WAIT {label}: deferred {exc.seconds:.0f}s, no attempt spent: {exc.message}")
                continue
            except JobFailure as exc:
                wrong += 1
                unreachable += isinstance(exc, ProviderUnavailable | ProviderTimeout)
                kind_of = "retryable" if exc.retryable else "permanent"
                print(f"FAIL {label}: {type(exc).__name__} ({kind_of}): {exc.message}")
                continue
            print(f"ok   {label}: {json.dumps(result, ensure_ascii=False)}")
    finally:
        await client.close()
    if sent and unreachable == sent:
        print("no provider could be reached: is there an internet connection?")
        return 2
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
