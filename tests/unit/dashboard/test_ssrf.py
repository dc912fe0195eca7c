"""SSRF guard: which addresses and hosts model discovery refuses before connecting."""

from __future__ import annotations

import ipaddress

import pytest

from services.core.errors import BadRequest
from services.dashboard.ssrf import BlockedAddress, blocked_reason, check_url, literal_host


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
    assert check_url("http://127.0.0.1:9999/v1", frozenset({"127.0.0.1:9999"})) == (
        "127.0.0.1",
        9999,
    )
    with pytest.raises(BlockedAddress):
        check_url("http://127.0.0.1:9998/v1", frozenset({"127.0.0.1:9999"}))
