"""Proxy settings, model aliases, the model catalog and model preferences over HTTP."""

from __future__ import annotations

from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard.conftest import Browser


def test_settings_read_preview_and_save(admin: Browser, fake_proxy: FakeManagementAPI) -> None:
    current = admin.get("/api/proxy-settings").json()["data"]
    assert current["settings"]["routing.strategy"] == "round-robin"
    assert "strategy: round-robin" in current["yaml"]
    new = {
        **current["settings"],
        "routing.strategy": "fill-first",
        "request-retry": 5,
        "streaming.keepalive-seconds": 20,
    }
    preview = admin.post("/api/proxy-settings/preview", json={"settings": new}).json()["data"][
        "yaml"
    ]
    assert "strategy: fill-first" in preview and "keepalive-seconds: 20" in preview
    assert fake_proxy.snapshot("routing") == {"strategy": "round-robin"}  # preview writes nothing
    saved = admin.put("/api/proxy-settings", json={"settings": new})
    assert saved.status_code == 200, saved.text
    assert fake_proxy.snapshot("routing") == {"strategy": "fill-first"}
    assert fake_proxy.snapshot("request-retry") == 5
    assert fake_proxy.snapshot("streaming")["keepalive-seconds"] == 20
    assert fake_proxy.snapshot("api-keys") is not None  # the rest of the file is kept
    audit = admin.get("/api/admin/audit?action=PROXY_SETTINGS_CHANGED").json()["data"]["entries"][0]
    assert audit["metadata"]["changed"]["routing.strategy"] == "fill-first"


def test_settings_server_side_validation(admin: Browser, fake_proxy: FakeManagementAPI) -> None:
    writes_before = list(fake_proxy.writes)
    bad = admin.put(
        "/api/proxy-settings",
        json={"settings": {"routing.strategy": "random", "request-retry": -1}},
    )
    assert bad.status_code == 400
    fields = {d["field"] for d in bad.json()["error"]["details"]}
    assert {"routing.strategy", "request-retry"} <= fields
    assert (
        admin.put("/api/proxy-settings", json={"settings": {"no-such-key": 1}}).status_code == 400
    )
    assert fake_proxy.writes == writes_before


def test_aliases_round_trip_and_validation(admin: Browser, fake_proxy: FakeManagementAPI) -> None:
    aliases = {"claude": [{"name": "claude-sonnet-4-5", "alias": "sonnet", "fork": True}]}
    assert admin.put("/api/model-aliases", json={"aliases": aliases}).status_code == 200
    assert fake_proxy.snapshot("oauth-model-alias") == aliases
    assert admin.get("/api/model-aliases").json()["data"]["aliases"] == aliases
    bad = admin.put("/api/model-aliases", json={"aliases": {"Bad Channel": []}})
    assert bad.status_code == 400
    assert (
        admin.put("/api/model-aliases", json={"aliases": {"codex": [{"name": "x"}]}}).status_code
        == 400
    )


def test_catalog_uses_the_dashboard_key_and_preferences_hide_models(
    alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    alice.post(
        "/api/custom-providers",
        json={
            "name": "R",
            "providerId": "r",
            "baseUrl": "https://r.example/v1",
            "apiKey": "sk-r-" + "r" * 20,
            "models": [{"upstreamName": "m1"}, {"upstreamName": "m2", "alias": "fast"}],
        },
    )
    models = alice.get("/api/models").json()["data"]
    assert models["source"] == "proxy"
    assert [m["id"] for m in models["models"]] == ["fast", "m1"]
    assert alice.put("/api/model-preferences", json={"excludedModels": ["m1"]}).status_code == 200
    assert alice.get("/api/model-preferences").json()["data"]["excludedModels"] == ["m1"]
    hidden = {m["id"]: m["hidden"] for m in alice.get("/api/models").json()["data"]["models"]}
    assert hidden == {"fast": False, "m1": True}
    assert (
        alice.put("/api/model-preferences", json={"excludedModels": ["x"] * 501}).status_code == 400
    )
