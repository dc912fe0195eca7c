"""oauth-excluded-models and oauth-model-alias: whole-map PUT, per-channel PATCH and DELETE."""

from __future__ import annotations

import pytest

from .conftest import CONFIG_TEXT


def live(mgmt):
    return mgmt.ctx.store.current.config


async def test_excluded_models_conventions(mgmt):
    assert await mgmt.ok_json("GET", "/oauth-excluded-models") == {
        "oauth-excluded-models": {"claude": ["claude-old"]}
    }
    await mgmt.ok_json(
        "PUT",
        "/oauth-excluded-models",
        json={" Claude ": ["a", "a", " b "], "codex": ["gpt-*"], "x": []},
    )
    assert live(mgmt).oauth_excluded_models == {"claude": ["a", "b"], "codex": ["gpt-*"]}
    await mgmt.ok_json(
        "PATCH", "/oauth-excluded-models", json={"provider": "gemini", "models": ["g1"]}
    )
    await mgmt.ok_json("PATCH", "/oauth-excluded-models", json={"provider": "codex", "models": []})
    assert live(mgmt).oauth_excluded_models == {"claude": ["a", "b"], "gemini": ["g1"]}
    await mgmt.ok_json("DELETE", "/oauth-excluded-models", params={"provider": "claude"})
    await mgmt.ok_json("PUT", "/oauth-excluded-models", json={"items": {"kimi": ["k"]}})
    assert live(mgmt).oauth_excluded_models == {"kimi": ["k"]}
    assert "# an operator's key we do not know" in mgmt.config_text()


@pytest.mark.parametrize(
    ("method", "kwargs", "status"),
    [
        ("PUT", {"json": ["not", "a", "map"]}, 400),
        ("PUT", {"json": {"claude": "not-a-list"}}, 400),
        ("PATCH", {"json": {"models": ["x"]}}, 400),
        ("PATCH", {"json": {"provider": "claude", "models": [1]}}, 400),
        ("PATCH", {"json": {"provider": "absent", "models": []}}, 404),
        ("DELETE", {}, 400),
        ("DELETE", {"params": {"provider": "absent"}}, 404),
    ],
)
async def test_excluded_models_validation_errors(mgmt, method, kwargs, status):
    resp = await mgmt.call(method, "/oauth-excluded-models", **kwargs)
    assert resp.status == status
    assert "error" in await resp.json()
    assert mgmt.config_text() == CONFIG_TEXT


async def test_model_alias_conventions(mgmt):
    assert await mgmt.ok_json("GET", "/oauth-model-alias") == {"oauth-model-alias": {}}
    aliases = [
        {"name": "claude-sonnet-4-5", "alias": "sonnet", "fork": False, "force-mapping": True}
    ]
    await mgmt.ok_json(
        "PATCH", "/oauth-model-alias", json={"channel": "Claude", "aliases": aliases}
    )
    entry = live(mgmt).oauth_model_alias["claude"][0]
    assert (entry.name, entry.alias, entry.fork, entry.force_mapping) == (
        "claude-sonnet-4-5",
        "sonnet",
        False,
        True,
    )
    assert "fork" not in mgmt.config_text()
    await mgmt.ok_json(
        "PUT",
        "/oauth-model-alias",
        json={"claude": aliases, "codex": [{"name": "gpt-5", "alias": "g", "fork": True}]},
    )
    assert set(live(mgmt).oauth_model_alias) == {"claude", "codex"}
    await mgmt.ok_json("PATCH", "/oauth-model-alias", json={"provider": "codex", "aliases": []})
    await mgmt.ok_json("DELETE", "/oauth-model-alias", params={"channel": "claude"})
    assert live(mgmt).oauth_model_alias == {}
    body = await mgmt.ok_json("GET", "/oauth-model-alias")
    assert body == {"oauth-model-alias": {}}


@pytest.mark.parametrize(
    ("method", "kwargs", "status"),
    [
        ("PUT", {"json": {"claude": [{"name": "only-name"}]}}, 400),
        ("PUT", {"json": {"claude": ["x"]}}, 400),
        ("PATCH", {"json": {"aliases": []}}, 400),
        ("PATCH", {"json": {"channel": "claude", "aliases": [{"name": "", "alias": "a"}]}}, 400),
        ("PATCH", {"json": {"channel": "nope", "aliases": []}}, 404),
        ("DELETE", {}, 400),
        ("DELETE", {"params": {"channel": "nope"}}, 404),
    ],
)
async def test_model_alias_validation_errors(mgmt, method, kwargs, status):
    resp = await mgmt.call(method, "/oauth-model-alias", **kwargs)
    assert resp.status == status
    assert "error" in await resp.json()
    assert mgmt.config_text() == CONFIG_TEXT
