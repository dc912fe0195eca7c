"""Connecting OAuth accounts through the dashboard against real proxies and the providers' fakes:
pasted redirect URL, device code, cancel; ownership, anonymised views, both replicas."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.integration.dashboard.conftest import Browser
from tests.integration.dashboard.oauth.fakes_thread import ThreadedFakes, follow_sign_in
from tests.integration.dashboard.real_proxy import RealProxy, eventually


def names_at(proxy: RealProxy) -> set[str]:
    files: Any = proxy.management("auth-files")
    return {f["name"] for f in files["files"]}


def wait_connected(user: Browser, state: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def done() -> bool:
        answer = user.get(f"/api/oauth/connect/{state}")
        assert answer.status_code == 200, answer.text
        seen.update(answer.json()["data"])
        assert seen["status"] != "error", seen
        return bool(seen["status"] == "ok")

    eventually(done, 20)
    return seen


def audit_actions(user: Browser) -> list[str]:
    dsn = user.client.app.state.settings.database_url.get_secret_value()  # type: ignore[attr-defined]
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT action FROM audit_log ORDER BY id").fetchall()
    return [r[0] for r in rows]


def test_pasted_redirect_url_connects_claims_and_reaches_every_replica(
    alice: Browser, bob: Browser, admin: Browser, fakes: ThreadedFakes, replicas: list[RealProxy]
) -> None:
    account = fakes.call(fakes.fakes.claude.add_account, "alice@example.com")
    fakes.call(fakes.fakes.claude.sign_in, account)
    started = alice.post("/api/oauth/connect", json={"provider": "claude"})
    assert started.status_code == 201, started.text
    login = started.json()["data"]
    assert login["flow"] == "redirect" and login["url"] and login["state"]
    assert alice.get(f"/api/oauth/connect/{login['state']}").json()["data"]["status"] == "wait"
    # Another user cannot read, finish or cancel alice's login.
    assert bob.get(f"/api/oauth/connect/{login['state']}").status_code == 404
    redirect = follow_sign_in(login["url"])
    assert "code=" in redirect and "localhost:54545" in redirect
    pasted = alice.post(
        f"/api/oauth/connect/{login['state']}/callback", json={"redirectUrl": redirect}
    )
    assert pasted.status_code == 200, pasted.text
    done = wait_connected(alice, login["state"])
    name = done["account"]
    assert name.startswith("claude-") and name.endswith(".json")
    assert all(name in names_at(p) for p in replicas)  # copied to the second replica

    mine = alice.get("/api/oauth/accounts").json()["data"]["accounts"]
    assert [(a["name"], a["email"], a["isOwn"], a["state"]) for a in mine] == [
        (name, "alice@example.com", True, "active")
    ]
    theirs = bob.get("/api/oauth/accounts").json()["data"]["accounts"]
    assert theirs == [
        {
            "name": None,
            "provider": "claude",
            "email": "a***@example.com",
            "isOwn": False,
            "owner": None,
            "authIndex": None,
            "state": "active",
            "message": "",
            "coolingUntil": None,
            "priority": 0,
            "prefix": "",
            "note": "",
        }
    ]
    assert admin.get("/api/oauth/accounts").json()["data"]["accounts"][0]["owner"] == "alice"
    assert bob.get(f"/api/oauth/accounts/{name}/download").status_code == 404
    assert admin.get(f"/api/oauth/accounts/{name}/download").status_code == 200
    assert "OAUTH_ACCOUNT_CONNECTED" in audit_actions(alice)


def test_a_pasted_url_with_a_wrong_state_is_refused(
    alice: Browser, replicas: list[RealProxy]
) -> None:
    login = alice.post("/api/oauth/connect", json={"provider": "codex"}).json()["data"]
    wrong = "http://localhost:1455/auth/callback?code=abc&state=not-the-state"
    answer = alice.post(
        f"/api/oauth/connect/{login['state']}/callback", json={"redirectUrl": wrong}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["details"][0]["field"] == "redirectUrl"
    junk = alice.post(f"/api/oauth/connect/{login['state']}/callback", json={"redirectUrl": "hi"})
    assert junk.status_code == 400


def test_device_code_login_shows_the_code_and_finishes(
    alice: Browser, fakes: ThreadedFakes, replicas: list[RealProxy]
) -> None:
    fakes.call(fakes.fakes.xai.set_device_policy, pending_polls=1, interval=1)
    started = alice.post("/api/oauth/connect", json={"provider": "xai"})
    assert started.status_code == 201, started.text
    login = started.json()["data"]
    assert login["flow"] == "device" and login["userCode"] and login["url"]
    done = wait_connected(alice, login["state"])
    assert done["account"].startswith("xai-")
    assert all(done["account"] in names_at(p) for p in replicas)


def test_cancel_ends_the_login_at_the_proxy(alice: Browser, replicas: list[RealProxy]) -> None:
    login = alice.post("/api/oauth/connect", json={"provider": "antigravity"}).json()["data"]
    assert alice.delete(f"/api/oauth/connect/{login['state']}").status_code == 200
    assert alice.get(f"/api/oauth/connect/{login['state']}").status_code == 404
    at_proxy: Any = replicas[0].management(f"get-auth-status?state={login['state']}")
    assert at_proxy["status"] == "error"
    assert "OAUTH_LOGIN_CANCELLED" in audit_actions(alice)


def test_unknown_provider_is_a_400(alice: Browser, replicas: list[RealProxy]) -> None:
    answer = alice.post("/api/oauth/connect", json={"provider": "qwen"})
    assert answer.status_code == 400
    assert answer.json()["error"]["details"][0]["field"] == "provider"
