"""SSRF guard: which addresses and hosts model discovery and saved upstream URLs refuse."""

from __future__ import annotations

import ipaddress

import pytest

from services.core.errors import BadRequest
from services.dashboard.providers.ssrf import (
    PROXY_SCHEMES,
    BlockedAddress,
    UpstreamPolicy,
    blocked_reason,
    check_url,
    literal_host,
    stored_refusal,
)

PRIVATE_OK = UpstreamPolicy(allow_private=True)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.100.100.200",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:8.8.8.8",
        "64:ff9b::7f00:1",
    ],
)
def test_internal_addresses_are_blocked(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def test_metadata_address_is_named() -> None:
    assert blocked_reason(ipaddress.ip_address("169.254.169.254")) == "cloud metadata address"


@pytest.mark.parametrize("host", ["0x7f000001", "2130706433", "0177.0.0.1", "127.1", "0x7f.1"])
def test_numeric_encodings_are_refused(host: str) -> None:
    with pytest.raises(BlockedAddress):
        literal_host(host)


def test_dns_names_are_left_to_the_resolver() -> None:
    assert literal_host("api.example.com") is None
    assert literal_host("[::1]") == ipaddress.ip_address("::1")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/v1",
        "http://10.0.0.1/v1",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/v1",
        "http://0x7f000001/v1",
    ],
)
def test_check_url_refuses_internal_literals(url: str) -> None:
    with pytest.raises(BlockedAddress):
        check_url(url)


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http:///nohost"])
def test_check_url_refuses_other_schemes(url: str) -> None:
    with pytest.raises(BadRequest):
        check_url(url)


def test_allowlisted_host_port_is_accepted() -> None:
    policy = UpstreamPolicy(allowed=frozenset({"127.0.0.1:9999"}))
    assert check_url("http://127.0.0.1:9999/v1", policy) == ("127.0.0.1", 9999)
    with pytest.raises(BlockedAddress):
        check_url("http://127.0.0.1:9998/v1", policy)


@pytest.mark.parametrize(
    "url", ["http://localhost:8080/v1", "http://LOCALHOST./v1", "https://api.localhost/v1"]
)
def test_localhost_names_are_loopback_without_dns(url: str) -> None:
    with pytest.raises(BlockedAddress, match="loopback"):
        check_url(url)
    assert check_url(url, PRIVATE_OK)[1] in {8080, 80, 443}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:11434/v1",
        "http://10.1.2.3/v1",
        "http://192.168.0.5:8000/v1",
        "http://100.64.1.1/v1",
        "http://[fd12::1]/v1",
    ],
)
def test_the_admin_setting_lifts_private_addresses(url: str) -> None:
    with pytest.raises(BlockedAddress) as refused:
        check_url(url)
    assert refused.value.liftable
    check_url(url, PRIVATE_OK)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
        "http://169.254.1.1/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://0x7f000001/",
    ],
)
def test_metadata_and_odd_addresses_stay_refused_with_the_setting(url: str) -> None:
    with pytest.raises(BlockedAddress) as refused:
        check_url(url, PRIVATE_OK)
    assert not refused.value.liftable


def test_proxy_urls_may_be_socks() -> None:
    assert check_url("socks5://proxy.example.com/", schemes=PROXY_SCHEMES)[1] == 1080
    with pytest.raises(BlockedAddress):
        check_url("socks5h://127.0.0.1:1080", schemes=PROXY_SCHEMES)
    with pytest.raises(BadRequest):
        check_url("socks5://proxy.example.com/")  # base URLs stay http(s)


def test_stored_entries_are_judged_by_their_literal_hosts() -> None:
    policy = UpstreamPolicy()
    assert stored_refusal(policy, "https://api.example.com/v1", None, "direct") is None
    assert "loopback" in (
        stored_refusal(policy, "https://ok.example/v1", "http://[::1]:3128") or ""
    )
    assert stored_refusal(PRIVATE_OK, "http://10.0.0.1/v1") is None
    assert stored_refusal(policy, "not a url") is None  # the proxy validates its own config
