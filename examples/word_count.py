"""A user-defined job type: count the words of a text.

Enable it with ``DTQ_JOB_TYPE_MODULES=examples.word_count`` (docs/job-types.md).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.jobtypes import JobContext, JobTypeRegistry, PermanentJobError

WORD = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")


class WordCountPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=100_000, description="The text to count.")
    top: int = Field(default=10, ge=1, le=50, description="How many frequent words to list.")
    min_length: int = Field(default=1, ge=1, le=20, description="Ignore shorter words.")


async def word_count(payload: WordCountPayload, ctx: JobContext) -> dict[str, Any]:
    """Counts the words of a text and lists the most frequent ones."""
    lines = payload.text.splitlines() or [payload.text]
    counts: Counter[str] = Counter()
    for done, line in enumerate(lines, start=1):
        counts.update(w.lower() for w in WORD.findall(line) if len(w) >= payload.min_length)
        if done % 100 == 0 or done == len(lines):
            # Progress, and the point where a cancelled or timed-out job stops.
            await ctx.report(round(done * 100 / len(lines)), f"line {done} of {len(lines)}")
            await asyncio.sleep(0)
    if not counts:
        raise PermanentJobError("the text has no words")  # retrying cannot help
    return {
        "words": sum(counts.values()),
        "unique": len(counts),
        "top": [{"word": w, "count": n} for w, n in counts.most_common(payload.top)],
    }


def register(registry: JobTypeRegistry) -> None:
    registry.register("word_count", WordCountPayload, word_count)
