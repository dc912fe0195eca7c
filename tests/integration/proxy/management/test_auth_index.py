"""Provider keys carry `auth-index` (CLIProxyAPI's answers do; the Management Center uses it
for `/api-call` and per-key usage): the id the proxy itself gives that credential."""

from __future__ import annotations

from services.proxy.routing.credentials import build_credentials

VERTEX = {"api-key": "vx-key", "models": [{"name": "gemini-2.5-flash"}]}


def proxy_ids(mgmt) -> dict[tuple[str, str], str]:
    """(channel, secret) -> id, as the running proxy builds its credentials."""
    creds = build_credentials(mgmt.ctx.store.current.config)
    return {(c.channel, c.secret): c.id for c in creds}


async def test_every_provider_key_and_compat_entry_has_the_proxys_id(mgmt):
    await mgmt.ok_json("PUT", "/vertex-api-key", json=[VERTEX])
    await mgmt.ok_json("PUT", "/gemini-api-key", json=[{"api-key": "g-key"}])
    ids = proxy_ids(mgmt)
    for key, channel in (
        ("claude-api-key", "claude"),
        ("gemini-api-key", "gemini"),
        ("vertex-api-key", "vertex"),
    ):
        items = (await mgmt.ok_json("GET", f"/{key}"))[key]
        assert items, key
        for item in items:
            assert item["auth-index"] == ids[(channel, item["api-key"])], key
    compat = (await mgmt.ok_json("GET", "/openai-compatibility"))["openai-compatibility"]
    entry = compat[0]["api-key-entries"][0]
    assert entry["auth-index"] == ids[("local", "sk-local-1")]
    # GET /config carries the same values (the Management Center reads providers from it).
    config = await mgmt.ok_json("GET", "/config")
    assert config["claude-api-key"][0]["auth-index"] == ids[("claude", "sk-ant-first")]
    assert config["openai-compatibility"][0]["api-key-entries"][0] == entry


async def test_auth_index_is_stable_across_reloads_and_unrelated_edits(mgmt):
    before = (await mgmt.ok_json("GET", "/claude-api-key"))["claude-api-key"]
    await mgmt.ok_json("PUT", "/request-retry", json={"value": 7})
    mgmt.config_path.write_text(mgmt.config_text().replace("port: 8317", "port: 8318"))
    await mgmt.ctx.store.check_file()
    await mgmt.ok_json("PATCH", "/claude-api-key", json={"index": 1, "value": {"weight": 3}})
    after = (await mgmt.ok_json("GET", "/claude-api-key"))["claude-api-key"]
    assert [i["auth-index"] for i in after] == [i["auth-index"] for i in before]
    assert len({i["auth-index"] for i in after}) == 2


async def test_auth_index_echoed_back_is_never_written(mgmt):
    for key in ("claude-api-key", "openai-compatibility"):
        items = (await mgmt.ok_json("GET", f"/{key}"))[key]
        await mgmt.ok_json("PUT", f"/{key}", json=items)
        await mgmt.ok_json("PATCH", f"/{key}", json={"index": 0, "value": items[0]})
    assert "auth-index" not in mgmt.config_text()
    assert "auth_index" not in mgmt.config_text()
