"""List cursors: the id of the last job a page showed (job ids sort by time)."""

from __future__ import annotations

import re

from shared.errors import FieldError, ValidationFailed

#: A job id: a ULID in lower-case Crockford base32.
CURSOR_PATTERN = r"^[0-9a-hjkmnp-tv-z]{26}$"
_CURSOR = re.compile(CURSOR_PATTERN)


def encode_cursor(job_id: str) -> str:
    return job_id


def decode_cursor(cursor: str) -> str:
    if not _CURSOR.match(cursor):
        raise ValidationFailed(
            "the cursor is not one this server issued",
            [FieldError("cursor", "pass back next_cursor unchanged")],
        )
    return cursor
