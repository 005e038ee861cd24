"""Network address helpers."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse


def is_loopback(host: str) -> bool:
    """Whether a host name or address stays on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    return is_loopback(urlparse(url).hostname or "")
