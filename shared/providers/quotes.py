"""``quote``: a random quote, optionally from one category, from QuoteSlate (no key).

``GET /api/quotes/random?tags=<category>`` answers ``{"quote", "author", "tags"}``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.jobtypes import JobContext, JobTypeRegistry
from shared.providers.client import ProviderClient, answer_as
from shared.settings import Settings


class QuotePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z-]{0,39}$",
        description="A category (tag) such as wisdom, motivation or life; any if empty.",
    )


class _Quote(BaseModel):
    quote: str = Field(min_length=1)
    author: str = ""
    tags: list[str] = []


def register(registry: JobTypeRegistry, settings: Settings, client: ProviderClient) -> None:
    url = settings.quote_api_url.rstrip("/") + "/api/quotes/random"

    async def quote(payload: QuotePayload, ctx: JobContext) -> dict[str, Any]:
        """A random quote, optionally of one category (QuoteSlate)."""
        await ctx.report(20, "calling the quote API")
        params = {"tags": payload.category} if payload.category else None
        what = "QuoteSlate" + (f" (category {payload.category})" if payload.category else "")
        data = await client.get_json(url, what=what, params=params)
        await ctx.report(80, "parsing")
        found = answer_as(_Quote, data, "QuoteSlate")
        await ctx.report(95, "storing")
        return {
            "quote": found.quote.strip(),
            "author": found.author.strip() or "Unknown",
            "categories": found.tags,
        }

    registry.register("quote", QuotePayload, quote)
