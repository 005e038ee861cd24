import pytest

from shared.net import is_loopback, is_loopback_url


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_loopback_urls() -> None:
    assert is_loopback_url("http://127.0.0.1:8081/")
    assert not is_loopback_url("https://acct.documents.azure.com:443/")
