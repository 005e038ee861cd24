"""Which callback URLs and addresses webhooks may reach (shared/webhooks/targets.py):
the SSRF rules, at submit (the URL alone) and at delivery (every address resolved)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from shared.errors import ValidationFailed
from shared.webhooks.targets import TargetRefused, check_url, refusal, resolve

REFUSED_ALWAYS = [
    "169.254.169.254",  # cloud metadata
    "169.254.1.1",
    "fe80::1",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",  # reserved
    "::ffff:169.254.169.254",  # IPv4-mapped metadata
    "168.63.129.16",  # Azure WireServer / platform endpoint (a global address)
    "::ffff:168.63.129.16",
    "100.100.100.200",  # Alibaba Cloud metadata (in 100.64.0.0/10)
    "fd00:ec2::254",  # AWS metadata over IPv6 (in fc00::/7)
    "fec0::1",  # site-local (deprecated)
]
REFUSED_UNLESS_ALLOWED = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "fc00::1",
    "fd12:3456::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
]
ALLOWED = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED_ALWAYS + REFUSED_UNLESS_ALLOWED)
def test_private_and_special_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=False) is not None


@pytest.mark.parametrize("address", REFUSED_ALWAYS)
def test_link_local_multicast_and_reserved_stay_refused_when_private_is_allowed(
    address: str,
) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=True) is not None


@pytest.mark.parametrize("address", REFUSED_UNLESS_ALLOWED)
def test_the_setting_lets_loopback_and_private_addresses_through(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=True) is None


@pytest.mark.parametrize("address", ALLOWED)
def test_global_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=False) is None


#: Hosts that are loopback by any resolver: decimal, hex, short forms, names, IPv6.
LOOPBACK_HOSTS = [
    "127.0.0.1",
    "2130706433",
    "0x7f000001",
    "0x7f.1",
    "127.1",
    "017700000001",
    "localhost",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[0:0:0:0:0:ffff:7f00:1]",
]


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
async def test_a_loopback_target_is_refused_at_delivery(host: str) -> None:
    with pytest.raises(TargetRefused, match=r"loopback|private"):
        await resolve(f"http://{host}:8080/hook", allow_private=False)


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
async def test_with_the_setting_the_loopback_target_resolves_to_that_address(host: str) -> None:
    target = await resolve(f"http://{host}:8080/h?x=1", allow_private=True)
    assert target.address.is_loopback or target.address == ipaddress.ip_address("::ffff:7f00:1")
    assert (target.port, target.target) == (8080, "/h?x=1")


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(TargetRefused, match="does not resolve"):
        await resolve("https://nothing.invalid/hook", allow_private=True)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/x", "http or https"),
        ("https://user:pw@example.com/x", "credentials"),
        ("https://example.com/x#frag", "fragment"),
        ("https://example.com:99999/x", "invalid port"),
        ("https:///x", "must name a host"),
        ("https://example.com/" + "a" * 2100, "2048"),
        ("https://example.com/a b", "spaces"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://2130706433/", "loopback"),
        ("http://localhost:8080/", "loopback"),
        ("http://[::ffff:10.0.0.1]/", "private"),
    ],
)
def test_a_submitted_url_is_checked_without_dns(url: str, problem: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_url(url, allow_private=False)
    [error] = refused.value.errors
    assert error.field == "callback_url"
    assert problem in error.message


def test_a_public_url_passes_and_private_ones_pass_with_the_setting() -> None:
    assert check_url("https://hooks.example.com/dtq?x=1", allow_private=False)
    assert check_url("http://127.0.0.1:9000/hook", allow_private=True)
    with pytest.raises(ValidationFailed):
        check_url("http://169.254.169.254/", allow_private=True)


def test_an_international_name_passes_at_submit() -> None:
    # Sent in its IDNA form (tests/unit/test_webhook_client.py)
    assert check_url("https://bücher.example/x", allow_private=False)


@pytest.mark.parametrize("host", ["a..b.example", "x" * 64 + ".example"])
def test_a_name_that_is_no_idna_name_is_refused_at_submit(host: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_url(f"https://{host}/hook", allow_private=False)
    assert caught.value.errors[0].field == "callback_url"


async def test_a_name_resolving_to_a_private_address_is_refused_without_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def getaddrinfo(host: str, port: int, **kwargs: object) -> list[object]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    with pytest.raises(TargetRefused) as refused:
        await resolve("https://hooks.example.com/x", allow_private=False)
    assert "10.1.2.3" in str(refused.value), "the detail, for the service's log"
    assert refused.value.public == "the name resolves to a private or non-global address"
