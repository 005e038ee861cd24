"""Provider quotas and pauses (shared/quotas.py): counted in the store, so two
processes on one database share them; over a quota or while paused, a job is deferred
and nothing is counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.adapters.sqlite import Database, SqliteStatusStore
from shared.adapters.sqlite.rates import SqliteRateCounters
from shared.jobtypes.errors import JobDeferred
from shared.quotas import ProviderQuotas, Quota, parse_quotas
from shared.settings import Settings

T0 = 1_800_000_000.0  # a minute and an hour boundary


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "quotas"),
    [
        ("500/minute,4000/hour", (Quota(500, 60), Quota(4000, 3600))),
        ("90/15minute", (Quota(90, 900),)),
        (" 5 / 2 seconds ", (Quota(5, 2),)),
        ("", ()),
        ("none", ()),
    ],
)
def test_quotas_are_read_from_their_setting(text: str, quotas: tuple[Quota, ...]) -> None:
    assert parse_quotas(text) == quotas


@pytest.mark.parametrize("text", ["500", "5/day", "0/minute", "10/2hour", "x/minute", "5/0minute"])
def test_a_quota_that_cannot_be_kept_is_refused_at_start(text: str) -> None:
    with pytest.raises(ValueError, match="quota"):
        Settings.load(None, quote_quota=text)


def test_githubs_quota_follows_its_token() -> None:
    assert Settings.load(None).providers.quotas()["github"] == (Quota(55, 3600),)
    with_token = Settings.load(None, github_token="t").providers.quotas()
    assert with_token["github"] == (Quota(4500, 3600),)


async def test_two_processes_share_one_quota_and_wait_for_its_window(tmp_path: Path) -> None:
    clock = Clock()
    first, second = (
        ProviderQuotas(
            {"quoteslate": (Quota(3, 900),)},
            SqliteRateCounters(Database(tmp_path / "q.sqlite3")),
            clock=clock,
        )
        for _ in range(2)
    )
    clock.now = T0 + 100
    await first.take("quoteslate", "QuoteSlate")
    await second.take("quoteslate", "QuoteSlate")
    await first.take("quoteslate", "QuoteSlate")
    with pytest.raises(JobDeferred) as info:
        await second.take("quoteslate", "QuoteSlate")
    assert info.value.seconds == pytest.approx(800), "until the 15-minute window ends"
    assert "quota of 3 requests per 15 minutes to QuoteSlate" in info.value.message
    clock.now = T0 + 900
    await second.take("quoteslate", "QuoteSlate")  # the next window


async def test_every_quota_of_a_provider_must_have_room(tmp_path: Path) -> None:
    clock = Clock()
    quotas = ProviderQuotas(
        {"open_meteo": (Quota(5, 60), Quota(6, 3600))},
        SqliteRateCounters(Database(tmp_path / "q.sqlite3")),
        clock=clock,
    )
    for _ in range(5):
        await quotas.take("open_meteo", "Open-Meteo")
    clock.now += 60
    await quotas.take("open_meteo", "Open-Meteo")
    with pytest.raises(JobDeferred) as info:
        await quotas.take("open_meteo", "Open-Meteo")
    assert info.value.seconds == pytest.approx(3540), "the hour's quota is used up"
    await quotas.take("github", "GitHub"), "a provider without quotas is not counted"


async def test_a_pause_defers_every_call_until_it_ends_and_grows_while_limits_repeat() -> None:
    clock = Clock()
    quotas = ProviderQuotas(clock=clock)
    assert await quotas.pause("github", None, 60, "secondary rate limit") == 60
    with pytest.raises(JobDeferred, match="secondary rate limit") as info:
        await quotas.take("github", "GitHub")
    assert info.value.seconds == 60
    await quotas.take("quoteslate", "QuoteSlate"), "other providers go on"
    clock.now += 60
    await quotas.take("github", "GitHub")
    assert await quotas.pause("github", None, 60, "again") == 120, "doubled: no success between"
    assert await quotas.pause("github", 5, 60, "asked") == 5, "a wait the answer asks is kept"
    with pytest.raises(JobDeferred) as info:
        await quotas.take("github", "GitHub")
    assert info.value.seconds == 120, "a shorter pause never shortens one"
    quotas.succeeded("github")
    assert await quotas.pause("github", None, 60, "once more") == 60, "a success starts again"
    assert await quotas.pause("github", None, 60, "a 2xx", strike=False) == 120
    assert await quotas.pause("github", None, 60, "refused") == 120, "the 2xx was no strike"


async def test_a_pause_is_shared_through_the_store(tmp_path: Path) -> None:
    """A rate limit met in one process pauses the provider in every other one too."""
    clock = Clock()
    store = SqliteStatusStore(Database(tmp_path / "s.sqlite3"))
    here, there = (ProviderQuotas(markers=store, clock=clock) for _ in range(2))
    await here.pause("open_meteo", 3600, 60, "Hourly API request limit exceeded")
    with pytest.raises(JobDeferred, match="Hourly API request limit") as info:
        await there.take("open_meteo", "Open-Meteo")
    assert info.value.seconds == 3600
    await there.pause("open_meteo", 10, 60, "a shorter one")
    with pytest.raises(JobDeferred) as info:
        await here.take("open_meteo", "Open-Meteo")
    assert info.value.seconds == 3600, "the longer pause stays"
    clock.now += 3600
    await there.take("open_meteo", "Open-Meteo")


async def test_a_pause_lasts_at_most_until_the_day_after() -> None:
    quotas = ProviderQuotas()
    assert await quotas.pause("open_meteo", 10**7, 60, "Daily API request limit") == 25 * 3600
