"""When to try a failed attempt again."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped (the AWS Architecture Blog's
    'full jitter': a uniform draw between 0 and the exponential ceiling)."""

    base_seconds: float = 1.0
    max_seconds: float = 60.0

    def ceiling(self, attempt: int) -> float:
        """The largest delay after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_seconds, self.base_seconds * 2 ** max(0, attempt - 1))

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before the next attempt; never less than ``retry_after``."""
        draw = (rng or random).uniform(0, self.ceiling(attempt))
        if retry_after is not None:
            return max(draw, min(retry_after, self.max_seconds))
        return draw
