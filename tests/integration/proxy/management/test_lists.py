"""The list settings and their PUT / PATCH / DELETE conventions."""

from __future__ import annotations

import asyncio

import pytest

from services.proxy.config.loader import validate_text

from .conftest import CONFIG_TEXT


def keys_of(mgmt):
    return list(mgmt.ctx.store.current.config.api_keys)


def assert_comments_kept(text: str) -> None:
    for comment in (
        "# Proxy configuration",
        "# inline comment on port",
        "# client keys",
        "# Claude upstream keys",
        "# routing section",
        "# an operator's key we do not know",
    ):
        assert comment in text, comment
    assert "my-custom-section:" in text


async def test_get_api_keys(mgmt):
    assert await mgmt.ok_json("GET", "/api-keys") == {
        "api-keys": ["sk-client-one", "sk-client-two"]
    }


@pytest.mark.parametrize("wrap", [False, True])
async def test_put_api_keys_replaces_the_list(mgmt, wrap):
    new = [" sk-a ", "sk-b", ""]
    body = {"items": new} if wrap else new
    assert await mgmt.ok_json("PUT", "/api-keys", json=body) == {"status": "ok"}
    assert keys_of(mgmt) == ["sk-a", "sk-b"]
    assert_comments_kept(mgmt.config_text())
    # the comment above the next key did not move into or out of the list
    assert mgmt.config_text().index("# Claude upstream keys") > mgmt.config_text().index("sk-b")


async def test_patch_api_keys_by_index_and_by_old_new(mgmt):
    await mgmt.ok_json("PATCH", "/api-keys", json={"index": 1, "value": "sk-replaced"})
    assert keys_of(mgmt) == ["sk-client-one", "sk-replaced"]
    await mgmt.ok_json("PATCH", "/api-keys", json={"old": "sk-client-one", "new": "sk-new"})
    assert keys_of(mgmt) == ["sk-new", "sk-replaced"]
    await mgmt.ok_json("PATCH", "/api-keys", json={"old": "absent", "new": "sk-appended"})
    assert keys_of(mgmt) == ["sk-new", "sk-replaced", "sk-appended"]
    assert_comments_kept(mgmt.config_text())


async def test_delete_api_keys_by_index_and_value(mgmt):
    await mgmt.ok_json("DELETE", "/api-keys", params={"index": "0"})
    assert keys_of(mgmt) == ["sk-client-two"]
    await mgmt.ok_json("DELETE", "/api-keys", params={"value": "sk-client-two"})
    assert keys_of(mgmt) == []
    assert "api-keys: []" in mgmt.config_text()
    assert_comments_kept(mgmt.config_text())


@pytest.mark.parametrize(
    ("method", "kwargs", "status"),
    [
        ("PUT", {"json": {"not": "a list"}}, 400),
        ("PUT", {"json": ["ok", 5]}, 400),
        ("PUT", {"data": "[broken"}, 400),
        ("PATCH", {"json": {"index": 9, "value": "x"}}, 404),
        ("PATCH", {"json": {"index": "0", "value": "x"}}, 400),
        ("PATCH", {"json": {"value": "x"}}, 400),
        ("PATCH", {"json": ["x"]}, 400),
        ("DELETE", {"params": {"index": "9"}}, 404),
        ("DELETE", {"params": {"index": "x"}}, 400),
        ("DELETE", {"params": {"value": "absent"}}, 404),
        ("DELETE", {}, 400),
    ],
)
async def test_api_keys_validation_errors(mgmt, method, kwargs, status):
    resp = await mgmt.call(method, "/api-keys", **kwargs)
    assert resp.status == status
    assert "error" in await resp.json()
    assert mgmt.config_text() == CONFIG_TEXT


async def test_put_provider_keys_keeps_unknown_fields_and_drops_defaults(mgmt):
    """A client that PUTs back what GET returned (defaults included) leaves a tidy file."""
    current = (await mgmt.ok_json("GET", "/claude-api-key"))["claude-api-key"]
    assert current[0]["weight"] == 1 and current[0]["models"] == []
    current.append({"api-key": "sk-ant-third", "cloak": {"mode": "auto"}, "priority": 2})
    await mgmt.ok_json("PUT", "/claude-api-key", json=current)
    text = mgmt.config_text()
    assert "sk-ant-first # the first key" in text  # same item: its comment survives
    assert "cloak:" in text and "mode: auto" in text
    assert "weight:" not in text and "models: []" not in text and "disable-cooling" not in text
    config = mgmt.ctx.store.current.config
    assert [k.api_key for k in config.claude_api_key] == [
        "sk-ant-first",
        "sk-ant-second",
        "sk-ant-third",
    ]
    assert config.claude_api_key[2].priority == 2
    assert config.claude_api_key[2].model_extra == {"cloak": {"mode": "auto"}}
    assert_comments_kept(text)


@pytest.mark.parametrize("key", ["gemini-api-key", "codex-api-key", "claude-api-key"])
async def test_provider_list_round_trip(mgmt, key):
    items = [
        {"api-key": "k1", "base-url": "https://a.example"},
        {"api-key": "k1"},
        {"api-key": "k2"},
    ]
    await mgmt.ok_json("PUT", f"/{key}", json={"items": items})
    body = await mgmt.ok_json("GET", f"/{key}")
    assert [i["api-key"] for i in body[key]] == ["k1", "k1", "k2"]
    # PATCH by match merges only the given fields
    await mgmt.ok_json("PATCH", f"/{key}", json={"match": "k2", "value": {"prefix": "p2"}})
    # k1 is ambiguous without base-url
    resp = await mgmt.call("PATCH", f"/{key}", json={"match": "k1", "value": {"prefix": "x"}})
    assert resp.status == 400
    await mgmt.ok_json(
        "PATCH",
        f"/{key}",
        params={"base-url": "https://a.example"},
        json={"match": "k1", "value": {"weight": 5}},
    )
    await mgmt.ok_json("PATCH", f"/{key}", json={"index": 1, "value": {"proxy-url": "direct"}})
    entries = getattr(mgmt.ctx.store.current.config, key.replace("-", "_"))
    assert (entries[0].weight, entries[1].proxy_url, entries[2].prefix) == (5, "direct", "p2")
    assert entries[2].api_key == "k2"
    # DELETE by api-key needs base-url when ambiguous
    resp = await mgmt.call("DELETE", f"/{key}", params={"api-key": "k1"})
    assert resp.status == 400
    assert "base-url" in (await resp.json())["error"]
    await mgmt.ok_json("DELETE", f"/{key}", params={"api-key": "k1", "base-url": ""})
    await mgmt.ok_json("DELETE", f"/{key}", params={"index": "1"})
    entries = getattr(mgmt.ctx.store.current.config, key.replace("-", "_"))
    assert [(e.api_key, e.base_url) for e in entries] == [("k1", "https://a.example")]
    resp = await mgmt.call("DELETE", f"/{key}", params={"api-key": "absent"})
    assert resp.status == 404


async def test_patch_with_null_resets_a_field(mgmt):
    await mgmt.ok_json("PATCH", "/claude-api-key", json={"index": 1, "value": {"prefix": None}})
    assert mgmt.ctx.store.current.config.claude_api_key[1].prefix == ""
    assert "prefix: team" not in mgmt.config_text()


@pytest.mark.parametrize(
    ("method", "kwargs", "status"),
    [
        ("PUT", {"json": [{"prefix": "no key"}]}, 422),
        ("PUT", {"json": ["not an object"]}, 400),
        ("PUT", {"json": [{"api-key": "k", "weight": -1}]}, 422),
        ("PATCH", {"json": {"index": 0}}, 400),
        ("PATCH", {"json": {"value": {"prefix": "x"}}}, 400),
        ("PATCH", {"json": {"index": 5, "value": {}}}, 404),
        ("PATCH", {"json": {"match": "absent", "value": {}}}, 404),
        ("PATCH", {"json": {"index": 0, "value": {"weight": "heavy"}}}, 422),
        ("DELETE", {}, 400),
        ("DELETE", {"params": {"index": "7"}}, 404),
    ],
)
async def test_provider_list_validation_errors(mgmt, method, kwargs, status):
    resp = await mgmt.call(method, "/claude-api-key", **kwargs)
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert "error" in body
    if status == 422:
        assert body["error"] == "invalid_config" and "claude-api-key" in body["message"]
    assert mgmt.config_text() == CONFIG_TEXT


async def test_openai_compatibility_conventions(mgmt):
    """The Management Center toggles {index, value:{disabled}} and deletes by index."""
    await mgmt.ok_json(
        "PATCH", "/openai-compatibility", json={"index": 0, "value": {"disabled": True}}
    )
    assert mgmt.ctx.store.current.config.openai_compatibility[0].disabled is True
    await mgmt.ok_json(
        "PATCH", "/openai-compatibility", json={"name": "local", "value": {"disabled": False}}
    )
    assert mgmt.ctx.store.current.config.openai_compatibility[0].disabled is False
    assert "disabled" not in mgmt.config_text()
    body = await mgmt.ok_json("GET", "/openai-compatibility")
    second = {
        **body["openai-compatibility"][0],
        "name": "other",
        "base-url": "https://o.example/v1",
    }
    await mgmt.ok_json("PUT", "/openai-compatibility", json=[*body["openai-compatibility"], second])
    assert [p.name for p in mgmt.ctx.store.current.config.openai_compatibility] == [
        "local",
        "other",
    ]
    await mgmt.ok_json("DELETE", "/openai-compatibility", params={"name": "local"})
    await mgmt.ok_json("DELETE", "/openai-compatibility", params={"index": "0"})
    assert mgmt.ctx.store.current.config.openai_compatibility == []
    resp = await mgmt.call("PUT", "/openai-compatibility", json=[{"name": "x"}])
    assert resp.status == 422
    assert_comments_kept(mgmt.config_text())


async def test_many_concurrent_writers_never_lose_an_update(mgmt):
    """Thirty list PATCHes, ten map PATCHes and a scalar PUT at once: none is lost."""
    patches = [
        mgmt.call("PATCH", "/api-keys", json={"old": f"absent-{i}", "new": f"sk-conc-{i}"})
        for i in range(30)
    ]
    maps = [
        mgmt.call(
            "PATCH", "/oauth-excluded-models", json={"provider": f"p{i}", "models": [f"m{i}"]}
        )
        for i in range(10)
    ]
    scalars = [mgmt.call("PUT", "/request-retry", json={"value": 9})]
    responses = await asyncio.gather(*patches, *maps, *scalars)
    assert [r.status for r in responses] == [200] * len(responses)
    on_disk = validate_text(mgmt.config_text()).config
    assert set(on_disk.api_keys) >= {f"sk-conc-{i}" for i in range(30)}
    assert len(on_disk.api_keys) == 32
    assert {f"p{i}" for i in range(10)} <= set(on_disk.oauth_excluded_models)
    assert on_disk.request_retry == 9
    assert mgmt.ctx.store.current.config == on_disk
    assert_comments_kept(mgmt.config_text())
