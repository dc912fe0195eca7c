"""Desired-state reconciliation of the proxy's lists with what the dashboard owns."""

from __future__ import annotations

from services.dashboard.proxies.lists import reconcile_api_keys, reconcile_compat, reconcile_keyed
from services.dashboard.web.secrets_display import digest


def test_api_keys_keep_operator_entries_and_drop_revoked_ones() -> None:
    current = ["plain-operator-key", "sha256:old", "sha256:kept"]
    result = reconcile_api_keys(
        current, ["sha256:kept", "sha256:new"], {"sha256:old", "sha256:kept"}
    )
    assert result == ["plain-operator-key", "sha256:kept", "sha256:new"]


def test_keyed_entries_are_updated_in_place_and_extras_kept() -> None:
    current = [{"api-key": "operator"}, {"api-key": "ours", "weight": 3}, {"api-key": "gone"}]
    desired = [{"api-key": "ours", "base-url": "https://b"}, {"api-key": "added"}]
    managed = {digest("ours"), digest("gone")}
    assert reconcile_keyed(current, desired, managed) == [
        {"api-key": "operator"},
        {"api-key": "ours", "weight": 3, "base-url": "https://b"},
        {"api-key": "added"},
    ]


def test_compat_puts_ours_after_the_operator_in_our_order() -> None:
    current = [
        {"name": "b"},
        {"name": "op", "api-key-entries": [{"api-key": "op-key"}]},
        {"name": "gone"},
    ]
    desired = [
        {"name": "a", "api-key-entries": [{"api-key": "ka"}]},
        {"name": "b", "api-key-entries": []},
    ]
    result = reconcile_compat(current, desired, {"gone"}, {"op": ["direct"]}, {digest("direct")})
    assert [e["name"] for e in result] == ["op", "a", "b"]
    assert result[0]["api-key-entries"] == [{"api-key": "op-key"}, {"api-key": "direct"}]


def test_compat_removes_detached_direct_keys() -> None:
    current = [{"name": "op", "api-key-entries": [{"api-key": "op-key"}, {"api-key": "direct"}]}]
    result = reconcile_compat(current, [], set(), {}, {digest("direct")})
    assert result == [{"name": "op", "api-key-entries": [{"api-key": "op-key"}]}]


def test_defaults_filled_in_by_the_proxy_do_not_count_as_a_change() -> None:
    from services.dashboard.proxies.client import same_value

    ours = [{"name": "p", "base-url": "https://p", "api-key-entries": [{"api-key": "k"}]}]
    theirs = [
        {
            "name": "p",
            "base-url": "https://p",
            "api-key-entries": [{"api-key": "k", "proxy-url": "", "weight": 1}],
            "headers": {},
            "prefix": "",
            "disabled": False,
            "priority": 0,
        }
    ]
    assert same_value(theirs, ours)
    assert not same_value(theirs, [{**ours[0], "prefix": "x"}])
    assert not same_value([{"api-key": "k", "weight": 2}], [{"api-key": "k"}])
