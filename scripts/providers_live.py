"""Run each provider job type once against the real public APIs (needs the internet).

    .venv/bin/python scripts/providers_live.py        # or: make providers-live

Prints each normalised result, or the error and whether dtq would retry it. Exits 0
when all four answered, 1 when one failed, 2 when no provider could be reached at all
(no internet here), so a CI step can tell "broken" from "offline".
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.errors import JobFailure, ProviderTimeout, ProviderUnavailable
from shared.jobtypes import JobContext
from shared.providers import ProviderClient
from shared.runtime import build_registry
from shared.settings import Settings

JOBS: list[tuple[str, dict[str, Any]]] = [
    ("weather", {"city": "Lisbon", "country_code": "PT", "units": "metric"}),
    ("quote", {"category": "wisdom"}),
    ("exchange_rate", {"base": "USD", "symbols": ["EUR", "GBP", "JPY"], "amount": 100}),
    ("github_user", {"username": "octocat"}),
]


async def main() -> int:
    settings = Settings.load()
    client = ProviderClient(settings.provider_timeout_seconds)
    registry = build_registry(settings, client)
    failed = unreachable = 0

    async def quiet(progress: int, stage: str | None) -> bool:
        return False

    try:
        for name, payload in JOBS:
            kind = registry.get(name)
            ctx = JobContext(name, "live", name, 1, 1, "0" * 32, None, quiet)
            try:
                result = await kind.handler(kind.parse(payload), ctx)
            except JobFailure as exc:
                failed += 1
                unreachable += isinstance(exc, ProviderUnavailable | ProviderTimeout)
                kind_of = "retryable" if exc.retryable else "permanent"
                print(f"FAIL {name}: {type(exc).__name__} ({kind_of}): {exc.message}")
                continue
            print(f"ok   {name}: {json.dumps(result, ensure_ascii=False)}")
    finally:
        await client.close()
    if unreachable == len(JOBS):
        print("no provider could be reached: is there an internet connection?")
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
