"""``github_user``: a GitHub user's public profile, from the GitHub REST API.

The username is checked against GitHub's rules before any request (1 to 39
characters, letters, digits and single hyphens, not at either end), so it can never
change the request path. ``DTQ_GITHUB_TOKEN`` raises the rate limit from 60 to 5,000
requests an hour; an exhausted limit (403 or 429 with ``X-RateLimit-Remaining: 0``) is
retried after ``X-RateLimit-Reset``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import ProviderNotFound, ProviderRateLimited
from shared.jobtypes import JobContext, JobTypeRegistry
from shared.providers.client import ProviderClient, answer_as, check, json_of, seconds_until
from shared.settings import Settings

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


def register(registry: JobTypeRegistry, settings: Settings, client: ProviderClient) -> None:
    base = settings.github_api_url.rstrip("/")
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if settings.github_token:
        headers["Authorization"] = f"Bearer {settings.github_token}"

    async def github_user(payload: GithubUserPayload, ctx: JobContext) -> dict[str, Any]:
        """A GitHub user's public profile (GitHub REST API)."""
        what = f"GitHub user {payload.username}"
        await ctx.report(20, "calling the GitHub API")
        response = await client.get(f"{base}/users/{payload.username}", what=what, headers=headers)
        if (
            response.status_code in (403, 429)
            and response.headers.get("X-RateLimit-Remaining") == "0"
        ):
            raise ProviderRateLimited(
                f"{what}: GitHub's rate limit is used up"
                + ("" if settings.github_token else " (set DTQ_GITHUB_TOKEN to raise it)"),
                seconds_until(response.headers.get("X-RateLimit-Reset")),
            )
        if response.status_code == 404:
            raise ProviderNotFound(f"GitHub has no user named {payload.username!r}")
        check(response, what)
        await ctx.report(80, "parsing")
        user = answer_as(_User, json_of(response, what), "GitHub")
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
