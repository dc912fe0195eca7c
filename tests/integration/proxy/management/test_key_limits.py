"""api-key-limits: shown, replaced, patched and deleted through the management API."""

from __future__ import annotations

import pytest

from .conftest import CONFIG_TEXT

DIGEST = "sha256:" + "ab" * 32


def live(mgmt):
    return mgmt.ctx.store.current.config


async def test_key_limits_conventions(mgmt):
    assert await mgmt.ok_json("GET", "/api-key-limits") == {"api-key-limits": {}}
    await mgmt.ok_json(
        "PUT",
        "/api-key-limits",
        json={
            DIGEST: {"requests-per-minute": 60, "allowed-models": ["gpt-*", " "]},
            "*": {"daily-budget-usd": 5},
            "sk-nothing": {"requests-per-minute": 0},
        },
    )
    limits = live(mgmt).api_key_limits
    assert set(limits) == {DIGEST, "*"}
    assert limits[DIGEST].requests_per_minute == 60
    assert limits[DIGEST].allowed_models == ["gpt-*"]
    assert "tokens-per-minute" not in mgmt.config_text()  # zero fields are left out
    await mgmt.ok_json(
        "PATCH", "/api-key-limits", json={"key": DIGEST, "limits": {"concurrent-requests": 2}}
    )
    assert live(mgmt).api_key_limits[DIGEST].concurrent_requests == 2
    assert live(mgmt).api_key_limits[DIGEST].requests_per_minute == 0
    shown = await mgmt.ok_json("GET", "/api-key-limits")
    assert shown["api-key-limits"]["*"]["daily-budget-usd"] == 5
    await mgmt.ok_json("DELETE", "/api-key-limits", params={"key": "*"})
    assert set(live(mgmt).api_key_limits) == {DIGEST}
    config = await mgmt.ok_json("GET", "/config")
    assert config["api-key-limits"][DIGEST]["concurrent-requests"] == 2
    assert "# an operator's key we do not know" in mgmt.config_text()


@pytest.mark.parametrize(
    ("method", "kwargs", "status"),
    [
        ("PUT", {"json": ["not", "a", "map"]}, 400),
        ("PUT", {"json": {DIGEST: {"requests-per-minute": -1}}}, 400),
        ("PUT", {"json": {DIGEST: {"daily-budget-usd": "lots"}}}, 400),
        ("PUT", {"json": {DIGEST: {"allowed-models": [1]}}}, 400),
        ("PUT", {"json": {DIGEST: {"bogus-limit": 1}}}, 400),
        ("PATCH", {"json": {"limits": {}}}, 400),
        ("PATCH", {"json": {"key": "absent", "limits": {}}}, 404),
        ("DELETE", {}, 400),
        ("DELETE", {"params": {"key": "absent"}}, 404),
    ],
)
async def test_key_limits_validation_errors(mgmt, method, kwargs, status):
    resp = await mgmt.call(method, "/api-key-limits", **kwargs)
    assert resp.status == status
    assert "error" in await resp.json()
    assert mgmt.config_text() == CONFIG_TEXT
