"""``exchange_rate``: latest reference rates of the European Central Bank, from
Frankfurter (no key): ``GET /v1/latest?base=USD&symbols=EUR,GBP``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.errors import ProviderBadResponse
from shared.jobtypes import JobContext, JobTypeRegistry
from shared.providers.client import ProviderClient, answer_as
from shared.settings import Settings

CURRENCY = r"^[A-Za-z]{3}$"
Currency = Annotated[str, Field(pattern=CURRENCY, description="An ISO 4217 code.")]


class ExchangeRatePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base: str = Field(pattern=CURRENCY, description="ISO 4217 code to convert from, e.g. USD.")
    symbols: list[Currency] = Field(
        min_length=1, max_length=40, description="ISO 4217 codes to convert to, e.g. [EUR, GBP]."
    )
    amount: float = Field(default=1.0, gt=0, le=1e12, description="Amount of the base currency.")

    @field_validator("base")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("symbols")
    @classmethod
    def _codes(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(v.upper() for v in values))


class _Rates(BaseModel):
    base: str
    date: str
    rates: dict[str, float]


def register(registry: JobTypeRegistry, settings: Settings, client: ProviderClient) -> None:
    url = settings.exchange_rate_api_url.rstrip("/") + "/v1/latest"

    async def exchange_rate(payload: ExchangeRatePayload, ctx: JobContext) -> dict[str, Any]:
        """Latest ECB reference rates from one currency to others (Frankfurter)."""
        symbols = [s for s in payload.symbols if s != payload.base]
        await ctx.report(20, "calling the exchange rate API")
        rates: dict[str, float] = {}
        date = ""
        if symbols:
            data = await client.get_json(
                url,
                what=f"Frankfurter ({payload.base} to {','.join(symbols)})",
                params={"base": payload.base, "symbols": ",".join(symbols)},
            )
            await ctx.report(80, "parsing")
            answer = answer_as(_Rates, data, "Frankfurter")
            missing = [s for s in symbols if s not in answer.rates]
            if missing:
                raise ProviderBadResponse(f"Frankfurter gave no rate for {', '.join(missing)}")
            rates, date = {s: answer.rates[s] for s in symbols}, answer.date
        if payload.base in payload.symbols:
            rates[payload.base] = 1.0
        await ctx.report(95, "storing")
        return {
            "base": payload.base,
            "date": date,
            "amount": payload.amount,
            "rates": rates,
            "converted": {s: round(payload.amount * r, 6) for s, r in rates.items()},
            "source": "European Central Bank reference rates (Frankfurter)",
        }

    registry.register("exchange_rate", ExchangeRatePayload, exchange_rate)
