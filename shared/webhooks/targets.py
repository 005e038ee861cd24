"""Which callback URLs dtq calls (docs/security.md, "Webhook targets").

At submit, :func:`check_url` refuses what can never be called: a scheme other than
http or https, credentials in the URL, a fragment, more than MAX_URL_CHARS, no host, an
address literal that is refused (below). At delivery, :func:`resolve` looks the host up
once and refuses it if *any* of its addresses is refused; the POST then connects to
the first address, so a name cannot resolve to another address in between (DNS
rebinding). Refused: loopback, private (RFC 1918, unique local fc00::/7), shared
(100.64.0.0/10), link-local (169.254.0.0/16 with cloud metadata 169.254.169.254,
fe80::/10), multicast, unspecified, reserved and every other non-global range, and
always, from a list of our own (:data:`DENIED`): cloud metadata and platform endpoints
(Azure's 168.63.129.16, Alibaba's 100.100.100.200, AWS's fd00:ec2::254), link-local
and site-local fec0::/10; an IPv6
address that embeds an IPv4 one (IPv4-mapped, 6to4, Teredo, NAT64) is judged by that
IPv4 address. ``DTQ_WEBHOOK_ALLOW_PRIVATE=true`` lets loopback, private and shared
addresses through (tests, a receiver on one's own network); link-local, multicast,
unspecified and reserved addresses stay refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from shared.errors import FieldError, ValidationFailed

MAX_URL_CHARS = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: Names that are this machine whatever DNS says.
LOCAL_NAMES = ("localhost", "localhost.", "ip6-localhost", "ip6-loopback")


#: Always refused, whatever the setting and whatever this Python's ``ipaddress`` tables
#: say: cloud metadata and platform endpoints, and the ranges they live in.
DENIED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # link-local: AWS, Azure, GCP metadata at 169.254.169.254
        "168.63.129.16/32",  # Azure WireServer / platform endpoint (a global address)
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated, still routed by some networks)
    )
)


class TargetRefused(Exception):
    """The callback URL may not be called. The message is the detail, for the service's
    log (it may name the resolved address); ``public`` says why in general terms, for
    the job's record, which its tenant reads."""

    def __init__(self, detail: str, public: str | None = None) -> None:
        super().__init__(detail)
        self.public = public or detail


@dataclass(frozen=True)
class Target:
    """A callback URL's parts and the one address to connect to."""

    scheme: str
    #: In ASCII (an international name in its IDNA form), as DNS, Host and TLS take it.
    host: str
    port: int
    #: Path and query, as sent in the request line.
    target: str
    address: IPAddress


def _embedded_v4(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def refusal(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why ``ip`` may not be called, or None if it may."""
    embedded = _embedded_v4(ip)
    if any(a in n for a in (ip, embedded) for n in DENIED if a.version == n.version):
        return "a cloud metadata, platform or link-local address"
    ip = embedded
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address (such as the cloud metadata service)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_loopback:
        return None if allow_private else "a loopback address"
    if ip.is_reserved:
        return "a reserved address"
    private = ip.is_private or ip in ipaddress.ip_network("100.64.0.0/10")
    if private and allow_private:
        return None
    if private or not ip.is_global:
        return "a private or non-global address"
    return None


def _literal(host: str) -> IPAddress | None:
    """The address a host names literally, in any form a resolver accepts for IPv4
    (``2130706433``, ``0x7f.1``, ``127.1``), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _ascii_host(parts: SplitResult) -> str | None:
    """The URL's host as DNS, the ``Host`` header and TLS see it: an international name
    in its IDNA (punycode) form; None if it is no valid name (an empty label, a label
    over 63 characters)."""
    try:
        return (parts.hostname or "").encode("idna").decode("ascii")
    except UnicodeError:
        return None


def _split(url: str) -> tuple[SplitResult, str]:
    """The URL's parts and its host in ASCII; ValidationFailed naming ``callback_url``."""
    problems = []
    if len(url) > MAX_URL_CHARS:
        problems.append(f"must be at most {MAX_URL_CHARS} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        problems.append("must be an http or https URL")
    if parts.username is not None or parts.password is not None:
        problems.append("must not carry credentials (user:password@)")
    if parts.fragment:
        problems.append("must not have a fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError:
        problems.append("has an invalid port")
    host = _ascii_host(parts)
    if not parts.hostname:
        problems.append("must name a host")
    elif host is None:
        problems.append("has a host name that is not a valid (IDNA) name")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        problems.append("must not contain spaces or control characters")
    if problems:
        raise ValidationFailed(
            "the callback URL is not valid", [FieldError("callback_url", "; ".join(problems))]
        )
    return parts, host or ""


def check_url(url: str, *, allow_private: bool) -> str:
    """``url`` if it may be a callback URL (what can be told without DNS), else
    ValidationFailed naming ``callback_url``."""
    _, host = _split(url)
    literal = _literal(host)
    reason = (
        refusal(literal, allow_private=allow_private)
        if literal is not None
        else (None if allow_private or host.lower() not in LOCAL_NAMES else "a loopback name")
    )
    if reason is not None:
        raise ValidationFailed(
            "the callback URL is not allowed",
            [FieldError("callback_url", f"names {reason}; see docs/security.md")],
        )
    return url


def parse_callback_urls(text: str, allow_private: bool) -> dict[str, str]:
    """``{"acme": "https://acme.example/hook"}`` (DTQ_TENANT_CALLBACK_URLS) -> a dict,
    each URL checked as a submitted one is; ValueError names what is wrong."""
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"DTQ_TENANT_CALLBACK_URLS is not JSON: {exc}") from None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ValueError("DTQ_TENANT_CALLBACK_URLS must be a JSON object of tenant -> URL")
    for tenant, url in raw.items():
        try:
            check_url(url, allow_private=allow_private)
        except ValidationFailed as exc:
            problem = exc.errors[0].message
            raise ValueError(f"DTQ_TENANT_CALLBACK_URLS[{tenant!r}] {problem}") from None
    return {str(k): v for k, v in raw.items()}


async def resolve(url: str, *, allow_private: bool) -> Target:
    """The address to POST ``url``'s request to: the host looked up once, every address
    it has checked; TargetRefused if the URL or any address is refused, or the name
    does not resolve."""
    try:
        parts, host = _split(url)
    except ValidationFailed as exc:
        raise TargetRefused(exc.errors[0].message) from None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    literal = _literal(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as exc:
            detail = f"{host} does not resolve: {exc}"
            raise TargetRefused(detail, "the name does not resolve") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        reason = refusal(address, allow_private=allow_private)
        if reason is not None:
            public = f"the URL names {reason}" if literal else f"the name resolves to {reason}"
            raise TargetRefused(f"{host} resolves to {address}, {reason}", public)
    if not addresses:
        raise TargetRefused(f"{host} has no address", "the name does not resolve")
    path = parts.path or "/"
    return Target(
        parts.scheme, host, port, path + (f"?{parts.query}" if parts.query else ""), addresses[0]
    )
