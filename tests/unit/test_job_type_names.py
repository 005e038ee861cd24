"""A job type's name is a URL path segment, a metric label and part of storage keys:
the registry refuses one that would need escaping in any of them."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from shared.jobtypes import JobContext, JobTypeRegistry


class Empty(BaseModel):
    pass


async def handler(payload: Empty, ctx: JobContext) -> None:
    return None


@pytest.mark.parametrize("name", ["reports/daily", "a b", "é", "", "-x", ".x", "x" * 101, "a?b"])
def test_a_name_that_needs_escaping_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=re.escape("1 to 100 of A-Za-z0-9_.-")):
        JobTypeRegistry().register(name, Empty, handler)


@pytest.mark.parametrize("name", ["echo", "word_count", "v2.resize-image", "X" * 100])
def test_plain_names_are_registered(name: str) -> None:
    registry = JobTypeRegistry()
    registry.register(name, Empty, handler)
    assert name in registry.names()
