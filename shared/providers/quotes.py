"""``quote``: a random quote, optionally from one category, from QuoteSlate (no key).

``GET /api/quotes/random?tags=<category>`` answers ``{"quote", "author", "tags"}``. The
category is checked at submit against QuoteSlate's tags (:data:`TAGS`); QuoteSlate
answers 400 for any other. The public instance allows 100 requests per 15 minutes per
IP address and asks commercial, public or heavy users to deploy their own
(``DTQ_QUOTE_API_URL``); its 429 carries ``Retry-After`` and ``RateLimit-Reset``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.jobtypes import JobContext, JobTypeRegistry
from shared.providers.answers import answer_as
from shared.providers.client import Provider

#: QuoteSlate's tags (data/tags.json of Musheer360/QuoteSlate).
Tag = Literal[
    "anger",
    "change",
    "courage",
    "creativity",
    "empathy",
    "fear",
    "forgiveness",
    "friendship",
    "general",
    "gratitude",
    "growth",
    "happiness",
    "harmony",
    "hope",
    "humility",
    "inspiration",
    "integrity",
    "justice",
    "knowledge",
    "leadership",
    "life",
    "love",
    "mindfulness",
    "motivation",
    "patience",
    "perseverance",
    "purpose",
    "resilience",
    "self-reflection",
    "success",
    "wisdom",
]
QUOTESLATE = Provider("quoteslate", "QuoteSlate", floor_seconds=60.0)
ATTRIBUTION = {
    "text": "Quotes powered by the QuoteSlate API",
    "url": "https://github.com/Musheer360/QuoteSlate",
}


class QuotePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Tag | None = Field(
        default=None, description="One of QuoteSlate's categories (tags); any if empty."
    )

    @field_validator("category", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() or None if isinstance(value, str) else value


class _Quote(BaseModel):
    quote: str = Field(min_length=1)
    author: str = ""
    tags: list[str] = []


def register(registry: JobTypeRegistry) -> None:
    settings, client = registry.settings.providers, registry.http
    url = settings.quote_api_url.rstrip("/") + "/api/quotes/random"

    async def quote(payload: QuotePayload, ctx: JobContext) -> dict[str, Any]:
        """A random quote, optionally of one category (QuoteSlate)."""
        await ctx.report(20, "calling the quote API")
        params = {"tags": payload.category} if payload.category else None
        what = "QuoteSlate" + (f" (category {payload.category})" if payload.category else "")
        ctx.log(f"asking {what} for a random quote")
        data = await client.get_json(url, provider=QUOTESLATE, what=what, params=params)
        await ctx.report(80, "parsing")
        found = answer_as(_Quote, data, "QuoteSlate")
        ctx.log(f"got a quote by {found.author.strip() or 'Unknown'} ({len(found.quote)} chars)")
        await ctx.report(95, "storing")
        return {
            "quote": found.quote.strip(),
            "author": found.author.strip() or "Unknown",
            "categories": found.tags,
            "attribution": ATTRIBUTION,
        }

    registry.register("quote", QuotePayload, quote)
