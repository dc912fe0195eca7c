"""Logins of Codex, Antigravity, Gemini CLI (redirect, pasted URL) and Kimi, xAI (device code)
through the management API, each against its fake, ending in a usable account."""

from __future__ import annotations

import json
import stat

import openai
import pytest

from services.proxy.oauth.providers.antigravity import PROVIDER as ANTIGRAVITY
from services.proxy.oauth.providers.gemini import PROVIDER as GEMINI
from services.proxy.oauth.providers.kimi import PROVIDER as KIMI
from tests.fakes.oauth.harness import OAuthFakes
from tests.integration.proxy.harness import CLIENT_KEY, run_proxy
from tests.integration.proxy.oauth.conftest import MGMT, auth_files, oauth_config, wait_status
from tests.integration.proxy.oauth.subscriptions import MODEL

REDIRECTS = {
    "codex": ("codex", "http://localhost:1455/auth/callback?"),
    "antigravity": ("antigravity", "http://localhost:51121/oauth-callback?"),
    "gemini": ("gemini-cli", "http://localhost:8085/oauth2callback?"),
}


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    """The fakes answer at once: no need to wait the real services' poll intervals."""
    monkeypatch.setattr(GEMINI, "onboard_pause", 0.0)
    monkeypatch.setattr(ANTIGRAVITY, "onboard_pause", 0.0)
    monkeypatch.setattr(KIMI, "min_interval", 0.0)


async def _start(proxy, session, starter: str, **params) -> dict:
    url = f"{proxy.base_url}/v0/management/{starter}-auth-url"
    async with session.get(url, params=params, headers=MGMT) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _chat(proxy, model: str) -> str:
    async with openai.AsyncOpenAI(api_key=CLIENT_KEY, base_url=f"{proxy.base_url}/v1") as c:
        done = await c.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        )
    return done.choices[0].message.content or ""


@pytest.mark.parametrize("kind", list(REDIRECTS))
async def test_pasted_redirect_login(tmp_path, oauth_fakes: OAuthFakes, session, kind):
    fake = oauth_fakes.providers[kind]
    account = fake.add_account(f"login-{kind}@example.com")
    starter, callback_prefix = REDIRECTS[kind]
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        started = await _start(proxy, session, starter, is_webui="true")
        assert started["status"] == "ok"
        async with session.get(started["url"], allow_redirects=False) as resp:
            assert resp.status == 302, await resp.text()
            callback = resp.headers["Location"]
        assert callback.startswith(callback_prefix)  # the registered redirect URI
        url = f"{proxy.base_url}/v0/management/oauth-callback"
        async with session.post(url, json={"provider": starter, "redirect_url": callback}) as r:
            assert r.status == 200, await r.text()
        assert (await wait_status(proxy, session, started["state"], limit=20))["status"] == "ok"
        (entry,) = await auth_files(proxy, session)
        assert entry["type"] == kind and entry["email"] == account.email
        path = tmp_path / "auths" / entry["name"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert not oauth_fakes.leaked_in(json.dumps(entry))
        who = "google" if kind != "codex" else "codex"
        assert await _chat(proxy, MODEL[kind]) == f"Hello from {who} account {account.email}."
    assert not oauth_fakes.misplaced_secrets()


async def test_gemini_cli_all_projects_as_the_dashboard_asks(tmp_path, oauth_fakes, session):
    account = oauth_fakes.google.add_account(
        "many@example.com", project="p-one", projects=["p-one", "p-two"], enabled_services=set()
    )
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        started = await _start(proxy, session, "gemini-cli", project_id="ALL", is_webui="true")
        async with session.get(started["url"], allow_redirects=False) as resp:
            query = resp.headers["Location"].split("?", 1)[1]
        async with session.get(f"{proxy.base_url}/google/callback?{query}") as resp:
            assert resp.status == 200
        assert (await wait_status(proxy, session, started["state"], limit=20))["status"] == "ok"
        (entry,) = await auth_files(proxy, session)
        assert entry["name"] == "gemini-many@example.com-all.json"
        assert entry["project_id"] == "p-one,p-two"
        assert account.enabled_services == {"p-one", "p-two"}
        # One credential per project, round-robin: both projects serve.
        for _ in range(2):
            assert (
                await _chat(proxy, "gemini-2.5-pro")
                == f"Hello from google account {account.email}."
            )
    projects = {r.body["project"] for r in oauth_fakes.log.select(kind="inference")}
    assert projects == {"p-one", "p-two"}


@pytest.mark.parametrize("kind", ["kimi", "xai"])
async def test_device_login(tmp_path, oauth_fakes: OAuthFakes, session, kind):
    fake = oauth_fakes.providers[kind]
    account = fake.add_account(f"device-{kind}@example.com")
    fake.set_device_policy(pending_polls=None, interval=1)  # waits for the user's visit
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        started = await _start(proxy, session, kind)
        assert started["flow"] == "device" and started["user_code"]
        assert started["state"].startswith({"kimi": "kmi-", "xai": "xai-"}[kind])
        # The verification URL reaches the fake (rewritten like the authorize URLs).
        status_url = f"{proxy.base_url}/v0/management/get-auth-status"
        async with session.get(status_url, params={"state": started["state"]}, headers=MGMT) as r:
            assert (await r.json())["status"] == "wait"  # nobody approved yet
        async with session.get(started["url"]) as resp:
            assert resp.status == 200, await resp.text()
        assert (await wait_status(proxy, session, started["state"], limit=20))["status"] == "ok"
        (entry,) = await auth_files(proxy, session)
        assert entry["type"] == kind
        if kind == "xai":
            assert entry["name"] == f"xai-{account.email}.json"
        answer = await _chat(proxy, MODEL[kind])
        assert answer == f"Hello from {kind} account {account.email}."


async def test_device_login_denied(tmp_path, oauth_fakes: OAuthFakes, session):
    oauth_fakes.xai.set_device_policy(pending_polls=0, outcome="access_denied", interval=1)
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        started = await _start(proxy, session, "xai")
        status = await wait_status(proxy, session, started["state"], limit=20)
        assert status["status"] == "error" and "denied" in status["error"]
        assert await auth_files(proxy, session) == []
