"""``exchange_rate``: latest reference rates of the European Central Bank, from
Frankfurter (no key): ``GET /v1/latest?base=USD&symbols=EUR,GBP&amount=100``.

Frankfurter's v1 serves the ECB's reference currencies only, so the codes are checked
at submit against that list (:data:`ECB_CURRENCIES`): an unknown one is a 422 then, not
a failure at run time. Frankfurter drops unknown symbols from a 200 answer (and answers
404 when none is left), so a symbol missing from an answer is a permanent failure. The
``amount`` is sent, because Frankfurter multiplies before it rounds: 1,000,000 IDR is
57.47 EUR, where the rounded rate (0.000057) would make it 57.00.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from shared.jobtypes import JobContext, JobTypeRegistry
from shared.jobtypes.errors import ProviderNotFound
from shared.providers.answers import answer_as
from shared.providers.client import Provider

#: The ECB's reference currencies, as Frankfurter v1 lists them (GET /v1/currencies),
#: 2026: BGN left when Bulgaria adopted the euro.
ECB_CURRENCIES = frozenset(
    [
        "AUD",
        "BRL",
        "CAD",
        "CHF",
        "CNY",
        "CZK",
        "DKK",
        "EUR",
        "GBP",
        "HKD",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "ISK",
        "JPY",
        "KRW",
        "MXN",
        "MYR",
        "NOK",
        "NZD",
        "PHP",
        "PLN",
        "RON",
        "SEK",
        "SGD",
        "THB",
        "TRY",
        "USD",
        "ZAR",
    ]
)
#: Codes people try that the ECB no longer (or never) publishes, with what to use.
HINTS = {
    "BGN": "Bulgaria uses EUR since 2026",
    "HRK": "Croatia uses EUR since 2023",
    "RUB": "the ECB suspended RUB in 2022",
}
FRANKFURTER = Provider("frankfurter", "Frankfurter", floor_seconds=60.0)


def ecb_currency(value: str) -> str:
    code = value.upper()
    if code not in ECB_CURRENCIES:
        hint = f" ({HINTS[code]})" if code in HINTS else ""
        raise ValueError(
            f"{code} is not one of the ECB's reference currencies{hint}; use one of "
            + ", ".join(sorted(ECB_CURRENCIES))
        )
    return code


#: A code of the ECB's list, in any case; the schema (OpenAPI, the UI's form) lists them.
Currency = Annotated[
    str,
    Field(pattern=r"^[A-Za-z]{3}$"),
    AfterValidator(ecb_currency),
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(ECB_CURRENCIES),
            "description": "An ECB reference currency (ISO 4217).",
        }
    ),
]


class ExchangeRatePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base: Currency = Field(description="ECB reference currency to convert from, e.g. USD.")
    symbols: list[Currency] = Field(
        min_length=1, max_length=40, description="ECB reference currencies to convert to."
    )
    amount: float = Field(default=1.0, gt=0, le=1e12, description="Amount of the base currency.")

    @field_validator("symbols")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))


class _Rates(BaseModel):
    amount: float = 1.0
    base: str
    date: str
    rates: dict[str, float]


def _significant(value: float, digits: int = 6) -> float:
    return float(f"{value:.{digits}g}")


def register(registry: JobTypeRegistry) -> None:
    settings, client = registry.settings.providers, registry.http
    url = settings.exchange_rate_api_url.rstrip("/") + "/v1/latest"

    async def exchange_rate(payload: ExchangeRatePayload, ctx: JobContext) -> dict[str, Any]:
        """Latest ECB reference rates from one currency to others (Frankfurter)."""
        symbols = [s for s in payload.symbols if s != payload.base]
        await ctx.report(20, "calling the exchange rate API")
        converted: dict[str, float] = {}
        date: str | None = None  # no rate was asked for (the base into itself)
        if symbols:
            params: dict[str, Any] = {"base": payload.base, "symbols": ",".join(symbols)}
            if payload.amount != 1:
                params["amount"] = f"{payload.amount:.15g}"
            ctx.log(
                f"asking Frankfurter for {payload.amount:g} {payload.base} in {', '.join(symbols)}"
            )
            data = await client.get_json(
                url,
                provider=FRANKFURTER,
                what=f"Frankfurter ({payload.base} to {','.join(symbols)})",
                params=params,
            )
            await ctx.report(80, "parsing")
            answer = answer_as(_Rates, data, "Frankfurter")
            missing = [s for s in symbols if s not in answer.rates]
            if missing:
                raise ProviderNotFound(
                    f"Frankfurter has no {payload.base} rate for {', '.join(missing)}"
                )
            converted, date = {s: answer.rates[s] for s in symbols}, answer.date
            ctx.log(f"rates of {date}: " + ", ".join(f"{s} {v:g}" for s, v in converted.items()))
        if payload.base in payload.symbols:
            converted[payload.base] = payload.amount
        await ctx.report(95, "storing")
        return {
            "base": payload.base,
            "date": date,
            "amount": payload.amount,
            # Per unit of the base, from the converted amounts (rounded after multiplying).
            "rates": {s: _significant(v / payload.amount) for s, v in converted.items()},
            "converted": converted,
            "source": "European Central Bank reference rates (Frankfurter)",
        }

    registry.register("exchange_rate", ExchangeRatePayload, exchange_rate)
