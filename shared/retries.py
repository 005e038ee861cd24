"""When to try a failed attempt again."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped (the AWS Architecture Blog's
    'full jitter': a uniform draw between 0 and the exponential ceiling)."""

    base_seconds: float = 1.0
    max_seconds: float = 60.0
    #: A provider's Retry-After is honoured up to this long (it may exceed max_seconds).
    retry_after_max_seconds: float = 3600.0

    def ceiling(self, attempt: int) -> float:
        """The largest delay after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_seconds, self.base_seconds * 2 ** max(0, attempt - 1))

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before the next attempt; never less than ``retry_after``
        (capped at ``retry_after_max_seconds``)."""
        draw = (rng or random).uniform(0, self.ceiling(attempt))
        if retry_after is not None:
            return max(draw, min(max(0.0, retry_after), self.retry_after_max_seconds))
        return draw


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from an HTTP ``Retry-After`` header: delay-seconds or an HTTP-date."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
