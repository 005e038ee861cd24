"""Standard Webhooks signatures (https://www.standardwebhooks.com, "Signature scheme").

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the signature is
HMAC-SHA256 with the secret's bytes, base64-encoded, versioned ``v1,``; the secret is
``whsec_`` + base64 of 24 to 64 random bytes. While a rotated secret still signs, the
header carries one signature per secret, separated by a space, as the spec allows.

Written with the standard library rather than the ``standardwebhooks`` package: it is
ten lines, and the package's ``sign`` only takes the body as text; the tests verify
these signatures with the package's own ``Webhook.verify`` (tests/unit/test_webhooks.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
#: Random bytes of a new secret (the spec asks for 24 to 64).
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    """The key of a ``whsec_`` secret; ValueError if it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ and base64") from exc
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">``."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with each secret in ``secrets_``."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets_),
    }


def verify(secret: str, header_values: dict[str, str], body: bytes) -> bool:
    """Whether one of the header's ``v1`` signatures is ``secret``'s (constant time).
    A receiver also checks the timestamp's age; see docs/api.md."""
    lowered = {k.lower(): v for k, v in header_values.items()}
    msg_id, stamp = lowered.get("webhook-id", ""), lowered.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit():
        return False
    expected = signature(secret, msg_id, int(stamp), body)
    return any(
        hmac.compare_digest(expected, sig) for sig in lowered.get("webhook-signature", "").split()
    )
