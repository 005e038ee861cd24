"""``github_user``: a GitHub user's public profile, from the GitHub REST API.

The username is checked against GitHub's rules before any request (1 to 39
characters, letters, digits and single hyphens, not at either end), so it can never
change the request path. ``DTQ_GITHUB_TOKEN`` raises the rate limit from 60 to 5,000
requests an hour.

Rate limits, as GitHub documents them ("Rate limits for the REST API"): a 403 or 429
with ``retry-after`` waits that long; with ``x-ratelimit-remaining: 0`` (the primary
limit) it waits until ``x-ratelimit-reset``, and a 2xx that used the last request
pauses GitHub until then too; any other 429, or a 403 whose message speaks of a rate
limit (a secondary limit), waits at least a minute, doubled for each one in a row.
Any other 403 is a refusal.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from shared.jobtypes import JobContext, JobTypeRegistry
from shared.jobtypes.errors import JobDeferred, ProviderNotFound, ProviderRateLimited
from shared.providers.answers import (
    RateLimit,
    answer_as,
    check,
    header_wait,
    json_of,
    seconds_until,
)
from shared.providers.client import Provider

#: Letters and digits, single hyphens only between them (the length is checked apart).
USERNAME = r"^[A-Za-z0-9](?:-?[A-Za-z0-9])*$"


class GithubUserPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(
        pattern=USERNAME,
        min_length=1,
        max_length=39,
        description="A GitHub login: letters, digits and single inner hyphens, up to 39.",
    )


class _User(BaseModel):
    login: str
    id: int
    html_url: str
    avatar_url: str = ""
    name: str | None = None
    company: str | None = None
    blog: str | None = None
    location: str | None = None
    bio: str | None = None
    type: str = "User"
    public_repos: int = 0
    followers: int = 0
    following: int = 0
    created_at: str | None = None


def rate_limit(response: httpx.Response, hint: str = "") -> RateLimit | None:
    """The rate limit a GitHub answer signals (see the module's docstring), or None."""
    status, headers = response.status_code, response.headers
    used_up = headers.get("X-RateLimit-Remaining") == "0"
    reset = seconds_until(headers.get("X-RateLimit-Reset"))
    if 200 <= status < 300:
        return RateLimit(reset, f"its rate limit is used up{hint}") if used_up else None
    if status not in (403, 429):
        return None
    asked = header_wait(response)
    if used_up:
        return RateLimit(asked if asked is not None else reset, f"rate limit used up{hint}")
    if status == 429 or asked is not None or "rate limit" in response.text.lower():
        return RateLimit(asked, f"secondary rate limit, HTTP {status}")
    return None


def register(registry: JobTypeRegistry) -> None:
    settings, client = registry.settings.providers, registry.http
    base = settings.github_api_url.rstrip("/")
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if settings.github_token:
        headers["Authorization"] = f"Bearer {settings.github_token}"
    hint = "" if settings.github_token else "; set DTQ_GITHUB_TOKEN to raise it"
    github = Provider(
        "github", "GitHub", floor_seconds=60.0, rate_limit=lambda r: rate_limit(r, hint)
    )

    async def github_user(payload: GithubUserPayload, ctx: JobContext) -> dict[str, Any]:
        """A GitHub user's public profile (GitHub REST API)."""
        what = f"GitHub user {payload.username}"
        await ctx.report(20, "calling the GitHub API")
        ctx.log(f"asking GitHub for user {payload.username!r}")
        try:
            response = await client.get(
                f"{base}/users/{payload.username}", provider=github, what=what, headers=headers
            )
        except (JobDeferred, ProviderRateLimited) as exc:
            wait = exc.seconds if isinstance(exc, JobDeferred) else exc.retry_after
            ctx.log(f"rate limited: waiting {wait or 0:.0f}s ({exc})")
            raise
        left = response.headers.get("X-RateLimit-Remaining")
        ctx.log(
            f"GitHub answered {response.status_code}" + (f" ({left} requests left)" if left else "")
        )
        if response.status_code == 404:
            raise ProviderNotFound(f"GitHub has no user named {payload.username!r}")
        check(response, what)
        await ctx.report(80, "parsing")
        user = answer_as(_User, json_of(response, what), "GitHub")
        ctx.log(f"{user.login}: {user.type}, {user.public_repos} public repos")
        await ctx.report(95, "storing")
        return {
            "login": user.login,
            "name": user.name,
            "type": user.type,
            "bio": user.bio,
            "company": user.company,
            "location": user.location,
            "blog": user.blog or None,
            "public_repos": user.public_repos,
            "followers": user.followers,
            "following": user.following,
            "created_at": user.created_at,
            "profile_url": user.html_url,
            "avatar_url": user.avatar_url,
        }

    registry.register("github_user", GithubUserPayload, github_user)
