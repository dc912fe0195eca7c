"""Which `proxy-url`s the lean client speaks, what they mean, and that none shows its
credentials: everything else stays on aiohttp (UpstreamClients.lean_for returns None)."""

from __future__ import annotations

import base64

import pytest

from services.proxy.upstream.outbound_proxy import OutboundProxy, parse_proxy_url
from services.proxy.upstream.sessions import UpstreamClients


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://proxy.lan:3128", OutboundProxy("http", "proxy.lan", 3128)),
        ("http://proxy.lan", OutboundProxy("http", "proxy.lan", 80)),
        ("HTTP://Proxy.LAN:8080", OutboundProxy("http", "proxy.lan", 8080)),
        ("http://[::1]:3128", OutboundProxy("http", "::1", 3128)),
        ("socks5://10.0.0.1:1080", OutboundProxy("socks5", "10.0.0.1", 1080)),
        ("socks5h://10.0.0.1:1080", OutboundProxy("socks5", "10.0.0.1", 1080)),
        ("socks5://u:p@h:1080", OutboundProxy("socks5", "h", 1080, "u", "p")),
        ("socks5://only-user@h:1080", OutboundProxy("socks5", "h", 1080)),  # as aiohttp-socks
        ("socks4://someone@h:1080", OutboundProxy("socks4", "h", 1080, "someone")),
    ],
)
def test_spoken_proxy_urls(url, expected):
    assert parse_proxy_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://proxy.lan:3128",  # TLS to the proxy: aiohttp keeps it
        "socks5://h",  # aiohttp-socks needs the port too
        "socks4a://h:1080",
        "ftp://h:21",
        "garbage",
        "http://user:p\u0101ss@h:1",  # not latin-1: aiohttp's Basic auth cannot send it either
        f"socks5://{'u' * 256}:p@h:1080",  # longer than RFC 1929 carries
    ],
)
def test_other_proxy_urls_stay_on_aiohttp(url):
    assert parse_proxy_url(url) is None


def test_basic_authorization_from_the_userinfo():
    proxy = parse_proxy_url("http://us%40er:p%3Ass@h:1")
    assert proxy is not None
    line = proxy.authorization()
    assert line.startswith("Proxy-Authorization: Basic ") and line.endswith("\r\n")
    assert base64.b64decode(line.split()[-1]) == b"us@er:p:ss"
    assert parse_proxy_url("http://h:1").authorization() == ""  # type: ignore[union-attr]


def test_the_credentials_are_not_in_the_repr_or_address():
    proxy = parse_proxy_url("socks5://user:pr0xy-s3cret@h:1080")
    assert "pr0xy-s3cret" not in repr(proxy) + str(proxy) + proxy.address  # type: ignore[union-attr]


async def test_one_lean_client_per_spoken_proxy_url_and_none_for_others():
    clients = UpstreamClients()
    await clients.start()
    try:
        assert clients.lean_for("") is clients.lean
        assert clients.lean_for("direct") is clients.lean
        through = clients.lean_for("socks5://h:1080")
        assert through is not None and through is not clients.lean
        assert clients.lean_for("socks5://h:1080") is through
        assert through.ssl_context is clients.lean.ssl_context
        assert clients.lean_for("https://h:3128") is None
    finally:
        await clients.close()
