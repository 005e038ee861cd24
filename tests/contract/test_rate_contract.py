"""The RateCounters contract, for every implementation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shared.ports import RateCounters
from tests.contract.backends import RATE_BACKENDS, Backends, port_fixture

W0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
W1 = W0 + timedelta(minutes=1)
MakeRates = Callable[[], RateCounters]


new_rates = port_fixture(Backends.rates, RATE_BACKENDS)


async def test_adds_up_to_the_limit_and_no_further(new_rates: MakeRates) -> None:
    rates = new_rates()
    assert [await rates.add("t1", W0, 1, 3) for _ in range(4)] == [True, True, True, False]
    assert not await rates.add("t1", W0, 1, 3), "a refused add changes nothing"
    assert await rates.add("t1", W1, 3, 3), "a new window starts from zero"
    assert await rates.add("t2", W0, 3, 3), "each tenant counts alone"
    assert not await rates.add("t3", W0, 4, 3), "a batch larger than the limit"
    assert await rates.add("t3", W0, 2, 3) and not await rates.add("t3", W0, 2, 3)


async def test_concurrent_adds_never_exceed_the_limit(new_rates: MakeRates) -> None:
    clients = [new_rates() for _ in range(4)]  # separate clients, as separate instances
    results = await asyncio.gather(*(clients[i % 4].add("t1", W0, 1, 10) for i in range(25)))
    assert sum(results) == 10
    # racing batches of 1 to 3: granted up to the limit, less at most what no batch fit
    sizes = [1 + i % 3 for i in range(30)]
    batches = await asyncio.gather(
        *(clients[i % 4].add("t2", W0, n, 35) for i, n in enumerate(sizes))
    )
    granted = sum(n for n, ok in zip(sizes, batches, strict=True) if ok)
    assert 35 - 2 <= granted <= 35, granted
    assert not await clients[0].add("t2", W0, 3, 35)


async def test_racing_submitters_are_all_counted_without_giving_up(
    new_rates: MakeRates,
) -> None:
    """A burst of submits from several instances at once, well under the limit: every
    add is granted (none gives up as too contended, which the API would answer 503)."""
    clients = [new_rates() for _ in range(6)]
    burst = await asyncio.gather(*(clients[i % 6].add("t1", W0, 1, 1000) for i in range(80)))
    assert all(burst)
    assert await clients[0].add("t1", W0, 920, 1000), "the 80 were counted once each"
    assert not await clients[1].add("t1", W0, 1, 1000)


async def test_old_windows_are_purged(new_rates: MakeRates) -> None:
    rates = new_rates()
    await rates.add("t1", W0, 1, 5)
    await rates.add("t2", W0, 1, 5)
    await rates.add("t1", W1, 1, 5)
    assert await rates.purge_before(W1, limit=10) == 2
    assert await rates.add("t1", W1, 4, 5) and not await rates.add("t1", W1, 1, 5)


async def test_a_providers_quota_counts_under_its_own_key(new_rates: MakeRates) -> None:
    """shared/quotas.py counts provider calls as ``provider:<name>:<period>`` in hour-long windows
    too: the key is a valid partition key, and the windows count apart."""
    rates = new_rates()
    hour = W0.replace(minute=0)
    assert [await rates.add("provider:open_meteo:3600", hour, 1, 2) for _ in range(3)] == [
        True,
        True,
        False,
    ]
    assert await rates.add("provider:open_meteo:3600", hour + timedelta(hours=1), 1, 2)
