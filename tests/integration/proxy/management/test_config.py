"""GET /config, GET|PUT /config.yaml and the scalar settings."""

from __future__ import annotations

import io

import pytest

from services.proxy.management.config_routes import SCALARS

from .conftest import CONFIG_TEXT

NEW_VALUES = {bool: True, int: 7, float: 12, str: "http://proxy.internal:3128"}


async def test_get_config_uses_cliproxyapi_key_names(mgmt):
    body = await mgmt.ok_json("GET", "/config")
    assert body["api-keys"] == ["sk-client-one", "sk-client-two"]
    assert body["routing"]["strategy"] == "round-robin"
    assert body["claude-api-key"][1]["prefix"] == "team"
    assert body["openai-compatibility"][0]["api-key-entries"][0]["api-key"] == "sk-local-1"
    assert body["logging-to-file"] is False
    assert body["my-custom-section"] == {"keep": "me"}


async def test_get_config_never_echoes_the_secret_key(mgmt):
    await mgmt.ctx.store.edit(lambda d: d.update({"remote-management": {"secret-key": "s3cr3t!"}}))
    body = await mgmt.ok_json("GET", "/config")
    assert body["remote-management"]["secret-key"] == "********"
    assert "s3cr3t!" not in str(body)


async def test_config_yaml_round_trips_with_comments(mgmt):
    """GET returns the file byte for byte; a PUT of an edited copy keeps every comment."""
    resp = await mgmt.call("GET", "/config.yaml")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/yaml")
    text = await resp.text()
    assert text == CONFIG_TEXT
    edited = text.replace("request-retry: 3", "request-retry: 5 # raised")
    resp = await mgmt.call(
        "PUT", "/config.yaml", data=edited, headers={"Content-Type": "application/yaml"}
    )
    assert resp.status == 200
    assert await resp.json() == {"ok": True, "changed": ["config"]}
    assert await (await mgmt.call("GET", "/config.yaml")).text() == edited
    assert mgmt.config_text() == edited
    assert mgmt.ctx.store.current.config.request_retry == 5  # live, no restart
    for comment in (
        "# Proxy configuration",
        "# inline comment on port",
        "# the first key",
        "# raised",
    ):
        assert comment in mgmt.config_text()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("port: [1, 2\n", "not valid YAML"),
        ("host: x\nport: not-a-port\n", "port (line 2)"),
        ("routing:\n  strategy: random\n", "routing.strategy (line 2)"),
        ("- a\n- b\n", "mapping"),
    ],
)
async def test_put_invalid_config_yaml_is_refused_and_changes_nothing(mgmt, text, needle):
    resp = await mgmt.call("PUT", "/config.yaml", data=text, headers={"Content-Type": "text/plain"})
    assert resp.status == 422
    body = await resp.json()
    assert body["error"] == "invalid_config"
    assert needle in body["message"]
    assert mgmt.config_text() == CONFIG_TEXT


async def test_put_config_yaml_refuses_non_utf8_and_oversize(mgmt):
    resp = await mgmt.call("PUT", "/config.yaml", data=b"port: \xff\n")
    assert resp.status == 400
    big = "a: " + "x" * (mgmt.ctx.limits.config_yaml_max_bytes + 10)
    resp = await mgmt.call("PUT", "/config.yaml", data=io.BytesIO(big.encode()))
    assert resp.status == 413
    assert mgmt.config_text() == CONFIG_TEXT


@pytest.mark.parametrize("scalar", SCALARS, ids=lambda s: s.route)
@pytest.mark.parametrize("verb", ["PUT", "PATCH"])
async def test_scalar_settings(mgmt, scalar, verb):
    """GET answers {"<key>": v}; PUT/PATCH {"value": x} persists, keeps comments, applies live."""
    body = await mgmt.ok_json("GET", f"/{scalar.route}")
    assert set(body) == {scalar.response_key}
    value = "fill-first" if scalar.route == "routing/strategy" else NEW_VALUES[scalar.kind]
    assert await mgmt.ok_json(verb, f"/{scalar.route}", json={"value": value}) == {"status": "ok"}
    assert await mgmt.ok_json("GET", f"/{scalar.route}") == {scalar.response_key: value}
    text = mgmt.config_text()
    assert "# Claude upstream keys" in text and "# routing section" in text
    assert "# inline comment on port" in text and "my-custom-section:" in text
    live = mgmt.ctx.store.current.config.model_dump(by_alias=True)
    for part in scalar.path:
        live = live[part]
    assert live == value


@pytest.mark.parametrize("scalar", SCALARS, ids=lambda s: s.route)
async def test_scalar_validation_errors(mgmt, scalar):
    """Wrong JSON types, a missing value and malformed JSON are 400s that change nothing."""
    wrong = "yes" if scalar.kind is not str else 5
    for body in ({"value": wrong}, {"other": 1}):
        resp = await mgmt.call("PUT", f"/{scalar.route}", json=body)
        assert resp.status == 400, body
        assert "error" in await resp.json()
    resp = await mgmt.call("PUT", f"/{scalar.route}", data="{not json")
    assert resp.status == 400
    assert mgmt.config_text() == CONFIG_TEXT


async def test_nested_scalar_keeps_its_inline_comment(mgmt):
    await mgmt.ok_json("PUT", "/routing/strategy", json={"value": "wrr"})
    assert "strategy: weighted-round-robin # default" in mgmt.config_text()
    assert await mgmt.ok_json("GET", "/routing/strategy") == {"strategy": "weighted-round-robin"}
    resp = await mgmt.call("PUT", "/routing/strategy", json={"value": "random"})
    assert resp.status == 400
    assert await resp.json() == {"error": "invalid strategy"}


async def test_out_of_range_scalar_is_invalid_config(mgmt):
    resp = await mgmt.call("PUT", "/request-retry", json={"value": -1})
    assert resp.status == 422
    body = await resp.json()
    assert body["error"] == "invalid_config" and "request-retry" in body["message"]
    assert mgmt.config_text() == CONFIG_TEXT


async def test_delete_proxy_url(mgmt):
    await mgmt.ok_json("PUT", "/proxy-url", json={"value": "socks5://127.0.0.1:1080"})
    assert mgmt.ctx.store.current.config.proxy_url == "socks5://127.0.0.1:1080"
    assert await mgmt.ok_json("DELETE", "/proxy-url") == {"status": "ok"}
    assert await mgmt.ok_json("GET", "/proxy-url") == {"proxy-url": ""}
    assert (await mgmt.call("DELETE", "/debug")).status == 405
