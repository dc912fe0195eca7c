"""Provider keys (D6), custom providers (D7), groups, reorder, resync and model discovery."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import psycopg
import pytest

from services.dashboard.settings import DashboardSettings
from tests.fakes.management_api import FakeManagementAPI
from tests.fakes.openai_models import FakeModelsUpstream
from tests.integration.dashboard.conftest import Browser, make_settings

CLAUDE_KEY = "sk-ant-api03-" + "k" * 40 + "WXYZ"
UPSTREAM_KEY = "sk-upstream-" + "u" * 30


@pytest.fixture
def upstream() -> Iterator[FakeModelsUpstream]:
    server = FakeModelsUpstream(UPSTREAM_KEY, ["gpt-4o", "llama-3-70b"])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(
    dashboard_db: str, proxies: list[FakeManagementAPI], upstream: FakeModelsUpstream
) -> DashboardSettings:
    return make_settings(dashboard_db, proxies, fetch_models_allow=f"127.0.0.1:{upstream.port}")


def provider_body(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "My Router",
        "providerId": "my-router",
        "baseUrl": "https://router.example.com/v1",
        "apiKey": UPSTREAM_KEY,
        "prefix": "mr",
        "headers": {"X-Team": "ai"},
        "models": [{"upstreamName": "gpt-4o", "alias": "fast"}, {"upstreamName": "llama-3-70b"}],
        "excludedModels": ["*-preview"],
    }
    body.update(over)
    return body


def compat_names(proxy: FakeManagementAPI) -> list[str]:
    return [e["name"] for e in proxy.snapshot("openai-compatibility")]


# --- provider keys -------------------------------------------------------------------------


def test_provider_key_lands_in_the_proxy_masked_everywhere(
    alice: Browser, fake_proxy: FakeManagementAPI, settings: DashboardSettings
) -> None:
    added = alice.post(
        "/api/providers/keys", json={"provider": "claude", "apiKey": CLAUDE_KEY, "name": "team"}
    )
    assert added.status_code == 201, added.text
    assert added.json()["data"]["keyIdentifier"] == "sk-ant…WXYZ"
    assert CLAUDE_KEY not in added.text
    assert [e["api-key"] for e in fake_proxy.snapshot("claude-api-key")] == [CLAUDE_KEY]
    listing = alice.get("/api/providers/keys?provider=claude")
    assert CLAUDE_KEY not in listing.text and listing.json()["data"]["keys"][0]["isOwn"] is True
    with psycopg.connect(settings.database_url.get_secret_value()) as conn:
        (sealed,) = conn.execute("SELECT secret_encrypted FROM provider_keys").fetchone()
    assert sealed.startswith("v1:") and CLAUDE_KEY not in sealed and "WXYZ" not in sealed


def test_others_keys_are_anonymised_for_users_not_admins(
    alice: Browser, bob: Browser, admin: Browser
) -> None:
    alice.post("/api/providers/keys", json={"provider": "gemini", "apiKey": "AIza" + "g" * 35})
    seen_by_bob = bob.get("/api/providers/keys").json()["data"]["keys"]
    assert seen_by_bob[0]["keyIdentifier"] == "Key 1" and seen_by_bob[0]["keyHash"] is None
    seen_by_admin = admin.get("/api/providers/keys").json()["data"]["keys"]
    assert seen_by_admin[0]["owner"] == "alice" and seen_by_admin[0]["keyIdentifier"].endswith(
        "gggg"
    )


def test_only_owner_or_admin_deletes(
    alice: Browser, bob: Browser, admin: Browser, fake_proxy: FakeManagementAPI
) -> None:
    key_hash = alice.post(
        "/api/providers/keys",
        json={
            "provider": "codex",
            "apiKey": "sk-codex-" + "c" * 30,
            "baseUrl": "https://api.openai.com/v1",
        },
    ).json()["data"]["keyHash"]
    assert fake_proxy.snapshot("codex-api-key")[0]["base-url"] == "https://api.openai.com/v1"
    assert bob.delete(f"/api/providers/keys/{key_hash}").status_code == 404
    assert len(fake_proxy.snapshot("codex-api-key")) == 1
    assert admin.delete(f"/api/providers/keys/{key_hash}?provider=codex").status_code == 200
    assert fake_proxy.snapshot("codex-api-key") == []


def test_duplicate_and_limit(alice: Browser, admin: Browser) -> None:
    assert (
        alice.post(
            "/api/providers/keys", json={"provider": "claude", "apiKey": CLAUDE_KEY}
        ).status_code
        == 201
    )
    dup = alice.post("/api/providers/keys", json={"provider": "claude", "apiKey": CLAUDE_KEY})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "key_already_exists"
    assert (
        admin.put(
            "/api/admin/settings", json={"key": "max_provider_keys_per_user", "value": 1}
        ).status_code
        == 200
    )
    over = alice.post(
        "/api/providers/keys", json={"provider": "claude", "apiKey": CLAUDE_KEY + "2"}
    )
    assert over.status_code == 403 and over.json()["error"]["code"] == "limit_reached"


def test_failed_proxy_write_rolls_the_row_back(
    alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    fake_proxy.fail_writes = True
    response = alice.post("/api/providers/keys", json={"provider": "claude", "apiKey": CLAUDE_KEY})
    assert response.status_code == 502
    fake_proxy.fail_writes = False
    assert alice.get("/api/providers/keys").json()["data"]["keys"] == []
    assert (
        alice.post(
            "/api/providers/keys", json={"provider": "claude", "apiKey": CLAUDE_KEY}
        ).status_code
        == 201
    )


def test_provider_key_validation(alice: Browser) -> None:
    assert (
        alice.post(
            "/api/providers/keys", json={"provider": "nope", "apiKey": CLAUDE_KEY}
        ).status_code
        == 400
    )
    assert (
        alice.post(
            "/api/providers/keys", json={"provider": "claude", "apiKey": "short"}
        ).status_code
        == 400
    )
    missing_target = alice.post(
        "/api/providers/keys", json={"provider": "openai-compatibility", "apiKey": CLAUDE_KEY}
    )
    assert (
        missing_target.status_code == 400
        and missing_target.json()["error"]["details"][0]["field"] == "target"
    )


def test_openai_compatible_key_joins_its_entry(
    alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    assert alice.post("/api/custom-providers", json=provider_body()).status_code == 201
    extra = "sk-extra-" + "e" * 30
    added = alice.post(
        "/api/providers/keys",
        json={"provider": "openai-compatibility", "apiKey": extra, "target": "my-router"},
    )
    assert added.status_code == 201, added.text
    entry = fake_proxy.snapshot("openai-compatibility")[0]
    assert [k["api-key"] for k in entry["api-key-entries"]] == [UPSTREAM_KEY, extra]
    alice.delete(f"/api/providers/keys/{added.json()['data']['keyHash']}")
    entry = fake_proxy.snapshot("openai-compatibility")[0]
    assert [k["api-key"] for k in entry["api-key-entries"]] == [UPSTREAM_KEY]


# --- custom providers ----------------------------------------------------------------------


def test_custom_provider_is_synced_with_encrypted_key(
    alice: Browser, fake_proxy: FakeManagementAPI, settings: DashboardSettings
) -> None:
    created = alice.post("/api/custom-providers", json=provider_body())
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["syncStatus"] == "ok" and data["provider"]["hasEncryptedKey"] is True
    assert UPSTREAM_KEY not in created.text
    entry = fake_proxy.snapshot("openai-compatibility")[0]
    assert entry == {
        "name": "my-router",
        "base-url": "https://router.example.com/v1",
        "api-key-entries": [{"api-key": UPSTREAM_KEY}],
        "models": [{"name": "gpt-4o", "alias": "fast"}, {"name": "llama-3-70b", "alias": ""}],
        "prefix": "mr",
        "headers": {"X-Team": "ai"},
        "excluded-models": ["*-preview"],
    }
    with psycopg.connect(settings.database_url.get_secret_value()) as conn:
        row = conn.execute(
            "SELECT api_key_encrypted, api_key_masked FROM custom_providers"
        ).fetchone()
        dump = str(conn.execute("SELECT * FROM custom_providers").fetchall())
    assert row[0].startswith("v1:") and UPSTREAM_KEY not in dump
    assert alice.get("/api/custom-providers").text.count(UPSTREAM_KEY) == 0


def test_custom_provider_validation(alice: Browser) -> None:
    cases = [
        ({"providerId": "Bad ID"}, "providerId"),
        ({"baseUrl": "ftp://x"}, "baseUrl"),
        ({"models": []}, "models"),
        ({"apiKey": None}, "apiKey"),
        ({"headers": {"Bad Header": "x"}}, "headers"),
    ]
    for over, field in cases:
        response = alice.post("/api/custom-providers", json=provider_body(**over))
        assert response.status_code == 400, (over, response.text)
        assert response.json()["error"]["details"][0]["field"] == field


def test_provider_id_is_global_and_name_unique_per_user(alice: Browser, bob: Browser) -> None:
    assert alice.post("/api/custom-providers", json=provider_body()).status_code == 201
    assert bob.post("/api/custom-providers", json=provider_body(name="Other")).status_code == 409
    assert (
        alice.post("/api/custom-providers", json=provider_body(providerId="other-id")).status_code
        == 409
    )
    assert (
        bob.post("/api/custom-providers", json=provider_body(providerId="bobs")).status_code == 201
    )


def test_update_keeps_the_key_and_replaces_lists(
    alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    pid = alice.post("/api/custom-providers", json=provider_body()).json()["data"]["provider"]["id"]
    patched = alice.patch(
        f"/api/custom-providers/{pid}",
        json={"models": [{"upstreamName": "only-one"}], "excludedModels": []},
    )
    assert patched.status_code == 200, patched.text
    entry = fake_proxy.snapshot("openai-compatibility")[0]
    assert entry["models"] == [{"name": "only-one", "alias": ""}] and "excluded-models" not in entry
    assert entry["api-key-entries"] == [{"api-key": UPSTREAM_KEY}]


def test_other_users_providers_are_invisible(
    alice: Browser, bob: Browser, fake_proxy: FakeManagementAPI
) -> None:
    pid = alice.post("/api/custom-providers", json=provider_body()).json()["data"]["provider"]["id"]
    assert bob.get(f"/api/custom-providers/{pid}").status_code == 404
    assert bob.patch(f"/api/custom-providers/{pid}", json={"name": "pwned"}).status_code == 404
    assert bob.delete(f"/api/custom-providers/{pid}").status_code == 404
    assert bob.get("/api/custom-providers").json()["data"]["providers"] == []
    assert compat_names(fake_proxy) == ["my-router"]
    assert alice.delete(f"/api/custom-providers/{pid}").status_code == 200
    assert compat_names(fake_proxy) == []


def test_reorder_is_mirrored_and_operator_entries_stay_first(
    alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    fake_proxy.config["openai-compatibility"] = [
        {"name": "operator", "base-url": "https://op.example/v1"}
    ]
    ids = [
        alice.post("/api/custom-providers", json=provider_body(name=n, providerId=n)).json()[
            "data"
        ]["provider"]["id"]
        for n in ("a", "b", "c")
    ]
    assert compat_names(fake_proxy) == ["operator", "a", "b", "c"]
    assert (
        alice.put(
            "/api/custom-providers/reorder", json={"providerIds": [ids[2], ids[0], ids[1]]}
        ).status_code
        == 200
    )
    assert compat_names(fake_proxy) == ["operator", "c", "a", "b"]


def test_group_toggle_really_removes_and_restores(
    alice: Browser, bob: Browser, fake_proxy: FakeManagementAPI
) -> None:
    group = alice.post("/api/provider-groups", json={"name": "Experimental", "color": "#aa33ff"})
    assert group.status_code == 201
    gid = group.json()["data"]["id"]
    alice.post("/api/custom-providers", json=provider_body(groupId=gid))
    alice.post("/api/custom-providers", json=provider_body(name="Stable", providerId="stable"))
    assert compat_names(fake_proxy) == ["my-router", "stable"]
    assert bob.patch(f"/api/provider-groups/{gid}", json={"isActive": False}).status_code == 404
    assert alice.patch(f"/api/provider-groups/{gid}", json={"isActive": False}).status_code == 200
    assert compat_names(fake_proxy) == ["stable"]
    overview = alice.get("/api/provider-groups").json()["data"]
    assert overview["groups"][0]["isActive"] is False and len(overview["ungrouped"]) == 1
    assert alice.patch(f"/api/provider-groups/{gid}", json={"isActive": True}).status_code == 200
    assert compat_names(fake_proxy) == ["my-router", "stable"]
    assert alice.patch(f"/api/provider-groups/{gid}", json={"isActive": False}).status_code == 200
    assert alice.delete(f"/api/provider-groups/{gid}").status_code == 200
    assert compat_names(fake_proxy) == ["my-router", "stable"]  # ungrouped again, so active


def test_group_validation_and_duplicates(alice: Browser) -> None:
    assert alice.post("/api/provider-groups", json={"name": "x" * 51}).status_code == 400
    assert (
        alice.post("/api/provider-groups", json={"name": "ok", "color": "red"}).status_code == 400
    )
    assert alice.post("/api/provider-groups", json={"name": "ok"}).status_code == 201
    assert alice.post("/api/provider-groups", json={"name": "ok"}).status_code == 409


def test_resync_restores_a_proxy_that_lost_its_config(
    alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    alice.post("/api/custom-providers", json=provider_body())
    key = alice.post("/api/user/api-keys", json={"name": "k"}).json()["data"]["key"]
    alice.post("/api/providers/keys", json={"provider": "claude", "apiKey": CLAUDE_KEY})
    fake_proxy.config["openai-compatibility"] = []
    fake_proxy.config["api-keys"] = []
    fake_proxy.config["claude-api-key"] = []
    response = alice.post("/api/custom-providers/resync")
    assert response.status_code == 200, response.text
    assert compat_names(fake_proxy) == ["my-router"]
    assert any(
        key[-6:] not in e and e.startswith("sha256:") for e in fake_proxy.snapshot("api-keys")
    )
    assert fake_proxy.snapshot("claude-api-key")[0]["api-key"] == CLAUDE_KEY
    fake_proxy.healthy = False
    partial = alice.post("/api/custom-providers/resync")
    assert partial.status_code == 207 and partial.json()["data"]["results"][0]["ok"] is False


# --- model discovery and the SSRF guard ----------------------------------------------------


def test_fetch_models_from_an_allowed_upstream(
    alice: Browser, upstream: FakeModelsUpstream
) -> None:
    response = alice.post(
        "/api/custom-providers/fetch-models",
        json={"baseUrl": upstream.url + "/v1", "apiKey": UPSTREAM_KEY},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["models"] == ["gpt-4o", "llama-3-70b"]


def test_fetch_models_with_the_stored_key(alice: Browser, upstream: FakeModelsUpstream) -> None:
    pid = alice.post(
        "/api/custom-providers", json=provider_body(baseUrl=upstream.url + "/v1")
    ).json()["data"]["provider"]["id"]
    response = alice.post("/api/custom-providers/fetch-models", json={"customProviderId": pid})
    assert response.status_code == 200 and response.json()["data"]["models"] == [
        "gpt-4o",
        "llama-3-70b",
    ]


INTERNAL_URLS = [
    "http://127.0.0.1:9/v1",
    "http://10.0.0.1/v1",
    "http://169.254.169.254/latest",
    "http://[::1]:9/v1",
    "http://0x7f000001/v1",
    "http://localhost:9/v1",
]


def test_fetch_models_refuses_internal_addresses(alice: Browser) -> None:
    for base_url in INTERNAL_URLS:
        body = {"baseUrl": base_url, "apiKey": UPSTREAM_KEY}
        response = alice.post("/api/custom-providers/fetch-models", json=body)
        assert response.status_code == 400, base_url
        assert response.json()["error"]["code"] == "ssrf_blocked", base_url


def test_fetch_models_does_not_follow_a_redirect_to_loopback(
    alice: Browser, upstream: FakeModelsUpstream
) -> None:
    upstream.redirect_to = "http://127.0.0.1:9/v1/models"
    response = alice.post(
        "/api/custom-providers/fetch-models",
        json={"baseUrl": upstream.url + "/redirect", "apiKey": UPSTREAM_KEY},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ssrf_blocked"
    assert "redirect" in response.json()["error"]["message"]
    assert upstream.hits == 1


# --- the SSRF guard on saved upstream URLs ------------------------------------------------


def _audit(settings: DashboardSettings, action: str) -> list[tuple[str, object]]:
    with psycopg.connect(settings.database_url.get_secret_value()) as conn:
        rows = conn.execute(
            "SELECT target, metadata FROM audit_log WHERE action = %s ORDER BY id", (action,)
        ).fetchall()
    return [(str(target), metadata) for target, metadata in rows]


def test_saving_a_custom_provider_refuses_internal_addresses(
    alice: Browser, fake_proxy: FakeManagementAPI, settings: DashboardSettings
) -> None:
    for base_url in INTERNAL_URLS:
        response = alice.post("/api/custom-providers", json=provider_body(baseUrl=base_url))
        assert response.status_code == 400, (base_url, response.text)
        error = response.json()["error"]
        assert error["code"] == "ssrf_blocked", base_url
        assert error["details"][0]["field"] == "baseUrl"
    assert compat_names(fake_proxy) == []
    with psycopg.connect(settings.database_url.get_secret_value()) as conn:
        assert conn.execute("SELECT count(*) FROM custom_providers").fetchone() == (0,)
    proxied = alice.post(
        "/api/custom-providers", json=provider_body(proxyUrl="socks5://127.0.0.1:1080")
    )
    assert proxied.status_code == 400
    assert proxied.json()["error"]["details"][0]["field"] == "proxyUrl"
    assert "Settings" in proxied.json()["error"]["message"]  # says how an admin can allow it


def test_updating_a_custom_provider_to_an_internal_address_is_refused(
    alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    pid = alice.post("/api/custom-providers", json=provider_body()).json()["data"]["provider"]["id"]
    for change in ({"baseUrl": "http://192.168.1.10:8000/v1"}, {"proxyUrl": "http://[::1]:3128"}):
        response = alice.patch(f"/api/custom-providers/{pid}", json=change)
        assert response.status_code == 400 and response.json()["error"]["code"] == "ssrf_blocked"
    entry = fake_proxy.snapshot("openai-compatibility")[0]
    assert entry["base-url"] == "https://router.example.com/v1"
    assert "proxy-url" not in entry["api-key-entries"][0]


def test_a_name_that_resolves_to_an_internal_address_is_refused(alice: Browser) -> None:
    name = socket.gethostname()
    try:
        found = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except OSError:
        pytest.skip("this host's name does not resolve")
    if any(ipaddress.ip_address(a).is_global for a in found):
        pytest.skip(f"{name} resolves to a public address here")
    response = alice.post("/api/custom-providers", json=provider_body(baseUrl=f"http://{name}/v1"))
    assert response.status_code == 400, response.text
    assert "resolves to" in response.json()["error"]["message"]


def test_provider_key_base_url_is_guarded(alice: Browser, fake_proxy: FakeManagementAPI) -> None:
    for base_url in ("http://10.0.0.1/v1", "http://localhost:8317/v1", "http://[::1]/"):
        response = alice.post(
            "/api/providers/keys",
            json={"provider": "codex", "apiKey": "sk-codex-" + "c" * 30, "baseUrl": base_url},
        )
        assert response.status_code == 400 and response.json()["error"]["code"] == "ssrf_blocked"
    assert fake_proxy.snapshot("codex-api-key") == []
    form = alice.post(
        "/dashboard/providers/keys",
        data={"provider": "codex", "apiKey": "sk-codex-" + "d" * 30, "baseUrl": "http://10.1.1.1"},
    )
    assert form.status_code == 303 and fake_proxy.snapshot("codex-api-key") == []


def test_the_provider_form_shows_the_refusal(alice: Browser, fake_proxy: FakeManagementAPI) -> None:
    page = alice.post(
        "/dashboard/providers/custom",
        data={
            "name": "Local",
            "providerId": "local",
            "baseUrl": "http://127.0.0.1:11434/v1",
            "apiKey": UPSTREAM_KEY,
            "modelUpstream": "llama3",
        },
    )
    assert page.status_code == 200
    assert "refused 127.0.0.1: loopback address" in page.text
    assert compat_names(fake_proxy) == []


def test_an_admin_may_allow_private_addresses(
    admin: Browser, alice: Browser, fake_proxy: FakeManagementAPI, settings: DashboardSettings
) -> None:
    assert (
        admin.get("/api/admin/settings").json()["data"]["settings"]["allow_private_upstreams"]
        is False
    )
    assert (
        alice.put(
            "/api/admin/settings", json={"key": "allow_private_upstreams", "value": True}
        ).status_code
        == 403
    )
    turned_on = admin.put(
        "/api/admin/settings", json={"key": "allow_private_upstreams", "value": True}
    )
    assert turned_on.status_code == 200 and turned_on.json()["data"]["value"] is True
    assert _audit(settings, "SETTINGS_CHANGED")[-1] == (
        "allow_private_upstreams",
        {"value": True},
    )
    local = provider_body(baseUrl="http://127.0.0.1:11434/v1", proxyUrl="http://10.0.0.2:3128")
    assert alice.post("/api/custom-providers", json=local).status_code == 201
    assert fake_proxy.snapshot("openai-compatibility")[0]["base-url"] == local["baseUrl"]
    # Metadata and link-local addresses stay refused whatever the setting says.
    for base_url in ("http://169.254.169.254/latest", "http://[fe80::1]/v1", "http://0.0.0.0/"):
        body = provider_body(name="Meta", providerId="meta", baseUrl=base_url)
        response = alice.post("/api/custom-providers", json=body)
        assert response.status_code == 400, base_url
        assert "Settings" not in response.json()["error"]["message"]

    # Off again: the next write leaves the private entry out of the proxy, and the page says so.
    form = admin.post("/dashboard/settings/limits", data={"key": "allow_private_upstreams"})
    assert form.status_code == 303
    assert (
        admin.get("/api/admin/settings").json()["data"]["settings"]["allow_private_upstreams"]
        is False
    )
    assert admin.post("/api/custom-providers/resync").status_code == 200
    assert compat_names(fake_proxy) == []
    page = alice.get("/dashboard/providers")
    assert "not applied: private address" in page.text


def test_rows_saved_before_the_guard_are_not_pushed(
    alice: Browser, fake_proxy: FakeManagementAPI, settings: DashboardSettings
) -> None:
    """A provider stored while the guard did not exist (or bypassed in the database) never
    reaches the proxies on the next write or resync."""
    created = alice.post("/api/custom-providers", json=provider_body()).json()["data"]["provider"]
    with psycopg.connect(settings.database_url.get_secret_value(), autocommit=True) as conn:
        conn.execute(
            "UPDATE custom_providers SET base_url = 'http://127.0.0.1:6379' WHERE id = %s",
            (created["id"],),
        )
    assert alice.post("/api/custom-providers/resync").status_code == 200
    assert compat_names(fake_proxy) == []
