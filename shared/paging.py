"""Opaque list cursors: the id of the last job a page showed."""

from __future__ import annotations

import base64

from shared.errors import FieldError, ValidationFailed


def encode_cursor(job_id: str) -> str:
    return base64.urlsafe_b64encode(job_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "the cursor is not one this server issued",
            [FieldError("cursor", "pass back next_cursor unchanged")],
        ) from exc
