"""The management caller rules as plain functions of address, key and clock."""

from __future__ import annotations

import pytest

from services.core.errors import Forbidden, Unauthorized
from services.proxy.management.guard import ManagementGuard, is_local_network, presented_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("address", "local"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("10.0.0.1", True),
        ("172.16.0.1", True),
        ("172.31.255.255", True),
        ("192.168.10.1", True),
        ("fd12::1", True),
        ("::ffff:10.1.1.1", True),
        ("169.254.1.1", True),
        ("fe80::1%eth0", True),
        ("172.32.0.1", False),
        ("8.8.8.8", False),
        ("::ffff:8.8.8.8", False),
        ("", False),
        (None, False),
        ("not-an-ip", False),
    ],
)
def test_is_local_network(address, local):
    assert is_local_network(address) is local


@pytest.mark.parametrize(
    ("authorization", "header", "key"),
    [
        ("Bearer abc", None, "abc"),
        ("bearer  abc ", None, "abc"),
        ("abc", None, "abc"),
        (None, "xyz", "xyz"),
        ("Bearer abc", "xyz", "abc"),
        (None, None, ""),
    ],
)
def test_presented_key(authorization, header, key):
    assert presented_key(authorization, header) == key


def test_ban_after_threshold_and_expiry():
    """The failure reaching the threshold is still a 401 (CLIProxyAPI); the ban starts there."""
    clock = Clock()
    guard = ManagementGuard(clock, threshold=3, ban_seconds=600)
    for _ in range(3):
        with pytest.raises(Unauthorized):
            guard.check("10.0.0.1", "bad", "good", allow_remote=False)
    with pytest.raises(Forbidden, match="Try again in 10 minutes"):
        guard.check("10.0.0.1", "bad", "good", allow_remote=False)
    with pytest.raises(Forbidden):
        guard.check("10.0.0.1", "good", "good", allow_remote=False)
    guard.check("10.0.0.2", "good", "good", allow_remote=False)
    clock.now += 600
    guard.check("10.0.0.1", "good", "good", allow_remote=False)


def test_remote_refusal_comes_first():
    guard = ManagementGuard(Clock())
    with pytest.raises(Forbidden, match="remote management disabled"):
        guard.check("1.1.1.1", "good", "good", allow_remote=False)
    guard.check("1.1.1.1", "good", "good", allow_remote=True)


def test_non_ascii_keys_do_not_crash():
    guard = ManagementGuard(Clock())
    with pytest.raises(Unauthorized):
        guard.check("127.0.0.1", "clé", "good", allow_remote=False)
    guard.check("127.0.0.1", "clé", "clé", allow_remote=False)


def test_tracked_addresses_are_bounded(monkeypatch):
    import services.proxy.management.guard as guard_module

    monkeypatch.setattr(guard_module, "_MAX_TRACKED_ADDRESSES", 10)
    guard = ManagementGuard(Clock(), threshold=2)
    for i in range(50):
        with pytest.raises(Unauthorized):
            guard.check(f"10.0.0.{i}", "bad", "good", allow_remote=False)
    assert len(guard._attempts) <= 10
