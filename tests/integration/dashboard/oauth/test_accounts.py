"""Managing OAuth accounts through the dashboard, against two real proxy replicas: import
(validated), settings, enable/disable, models, download, delete, admin claims; who may do what."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.dashboard.conftest import Browser
from tests.integration.dashboard.oauth.fakes_thread import ThreadedFakes, claude_file
from tests.integration.dashboard.real_proxy import RealProxy, eventually


def entries(proxy: RealProxy) -> dict[str, dict[str, Any]]:
    files: Any = proxy.management("auth-files")
    return {f["name"]: f for f in files["files"]}


def do_import(user: Browser, name: str, data: dict[str, Any]) -> Any:
    return user.post("/api/oauth/import", json={"fileName": name, "fileContent": json.dumps(data)})


def test_import_is_validated_and_lands_at_every_replica(
    alice: Browser, bob: Browser, fakes: ThreadedFakes, replicas: list[RealProxy]
) -> None:
    good = claude_file(fakes, "imp@example.com")
    bad = [
        ({"fileName": "x.json", "fileContent": "{not json"}, 400, "fileContent"),
        ({"fileName": "x.json", "fileContent": "[1]"}, 400, "fileContent"),
        ({"fileName": "x.json", "fileContent": json.dumps({**good, "type": "qwen"})}, 400, "type"),
        (
            {"fileName": "x.json", "fileContent": json.dumps({"type": "claude", "email": "a"})},
            400,
            "refresh_token",
        ),
        ({"fileName": "../x.json", "fileContent": json.dumps(good)}, 400, "fileName"),
    ]
    for payload, status, field in bad:
        answer = alice.post("/api/oauth/import", json=payload)
        assert answer.status_code == status, (payload, answer.text)
        assert answer.json()["error"]["details"][0]["field"] == field
    huge = {**good, "note": "x" * (1024 * 1024)}
    assert do_import(alice, "big.json", huge).status_code == 413
    assert all(entries(p) == {} for p in replicas)  # nothing stored by a refused import

    answer = do_import(alice, "claude-imp@example.com.json", good)
    assert answer.status_code == 201, answer.text
    assert all("claude-imp@example.com.json" in entries(p) for p in replicas)
    assert do_import(bob, "claude-imp@example.com.json", good).status_code == 409
    mine = alice.get("/api/oauth/accounts").json()["data"]["accounts"]
    assert mine[0]["isOwn"] and mine[0]["email"] == "imp@example.com"
    download = alice.get("/api/oauth/accounts/claude-imp@example.com.json/download")
    assert download.status_code == 200
    assert json.loads(download.content)["refresh_token"] == good["refresh_token"]


def test_settings_toggle_models_and_delete_reach_every_replica(
    alice: Browser, bob: Browser, fakes: ThreadedFakes, replicas: list[RealProxy]
) -> None:
    name = "claude-set@example.com.json"
    assert do_import(alice, name, claude_file(fakes, "set@example.com")).status_code == 201
    settings = {
        "prefix": "team",
        "priority": "5",
        "proxyUrl": "socks5://127.0.0.1:1080",
        "note": "shared seat",
        "excludedModels": "claude-3-*\n",
        "modelAliases": "claude-sonnet-4-5-20250929 = sonnet",
    }
    answer = alice.patch(f"/api/oauth/accounts/{name}", json=settings)
    assert answer.status_code == 200, answer.text
    for proxy in replicas:
        seen = entries(proxy)[name]
        assert (seen["prefix"], seen["priority"], seen["note"]) == ("team", 5, "shared seat")
    stored = json.loads(alice.get(f"/api/oauth/accounts/{name}/download").content)
    assert stored["proxy_url"] == "socks5://127.0.0.1:1080"
    assert stored["excluded_models"] == ["claude-3-*"]
    assert stored["model_aliases"] == [
        {"name": "claude-sonnet-4-5-20250929", "alias": "sonnet", "fork": False}
    ]
    refused = alice.patch(f"/api/oauth/accounts/{name}", json={"proxyUrl": "ftp://x"})
    assert refused.status_code == 400
    assert bob.patch(f"/api/oauth/accounts/{name}", json={"disabled": True}).status_code == 404

    assert alice.patch(f"/api/oauth/accounts/{name}", json={"disabled": True}).status_code == 200
    assert all(entries(p)[name]["disabled"] for p in replicas)
    listed = alice.get("/api/oauth/accounts").json()["data"]["accounts"]
    assert listed[0]["state"] == "disabled"
    assert alice.patch(f"/api/oauth/accounts/{name}", json={"disabled": False}).status_code == 200
    assert not any(entries(p)[name]["disabled"] for p in replicas)

    models = alice.get(f"/api/oauth/accounts/{name}/models").json()["data"]["models"]
    assert any(m["id"].startswith("claude-") for m in models)

    assert bob.delete(f"/api/oauth/accounts/{name}").status_code == 404
    assert alice.delete(f"/api/oauth/accounts/{name}").status_code == 200
    assert all(name not in entries(p) for p in replicas)
    assert alice.get("/api/oauth/accounts").json()["data"]["accounts"] == []


def test_admin_claims_an_unowned_file(
    admin: Browser, alice: Browser, fakes: ThreadedFakes, replicas: list[RealProxy]
) -> None:
    name = "claude-old@example.com.json"
    content = json.dumps(claude_file(fakes, "old@example.com"))
    for proxy in replicas:  # a file that was in the auth folder before the dashboard
        proxy.auth_dir.mkdir(exist_ok=True)
        (proxy.auth_dir / name).write_text(content)
    eventually(lambda: all(name in entries(p) for p in replicas))  # the proxies' folder scan
    listed = admin.get("/api/oauth/accounts").json()["data"]["accounts"]
    assert [(a["name"], a["owner"]) for a in listed] == [(name, None)]
    assert alice.get("/api/oauth/accounts").json()["data"]["accounts"][0]["name"] is None
    assert alice.post(f"/api/oauth/accounts/{name}/claim").status_code == 403
    assert alice.patch(f"/api/oauth/accounts/{name}", json={"disabled": True}).status_code == 404
    assert admin.post(f"/api/oauth/accounts/{name}/claim").status_code == 200
    assert admin.post(f"/api/oauth/accounts/{name}/claim").status_code == 409
    listed = admin.get("/api/oauth/accounts").json()["data"]["accounts"]
    assert listed[0]["owner"] == "admin" and listed[0]["isOwn"]


def test_deleting_a_user_removes_their_accounts_from_every_replica(
    admin: Browser, alice: Browser, bob: Browser, fakes: ThreadedFakes, replicas: list[RealProxy]
) -> None:
    alices, bobs = "claude-gone@example.com.json", "claude-stays@example.com.json"
    assert do_import(alice, alices, claude_file(fakes, "gone@example.com")).status_code == 201
    assert do_import(bob, bobs, claude_file(fakes, "stays@example.com")).status_code == 201
    users = admin.get("/api/admin/users").json()["data"]["users"]
    alice_id = next(u["id"] for u in users if u["username"] == "alice")
    assert admin.delete(f"/api/admin/users/{alice_id}").status_code == 200
    for proxy in replicas:
        assert alices not in entries(proxy) and bobs in entries(proxy)
    listed = admin.get("/api/oauth/accounts").json()["data"]["accounts"]
    assert [a["name"] for a in listed] == [bobs]
