"""Claude logins through the management API, against the Claude fake, then real SDK clients."""

from __future__ import annotations

import json
import stat

import aiohttp
import anthropic
import openai

from tests.conftest import free_port
from tests.fakes.oauth.harness import OAuthFakes
from tests.integration.proxy.harness import CLIENT_KEY, eventually, run_proxy
from tests.integration.proxy.oauth.conftest import MGMT, auth_files, oauth_config, wait_status


async def _start(proxy, session, **params):
    url = f"{proxy.base_url}/v0/management/anthropic-auth-url"
    async with session.get(url, params=params, headers=MGMT) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _browser(session: aiohttp.ClientSession, url: str) -> str:
    """The user's browser at the authorize URL: the callback URL it is sent to."""
    async with session.get(url, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        return resp.headers["Location"]


async def test_pasted_redirect_login_then_sdk_clients(tmp_path, oauth_fakes: OAuthFakes, session):
    account = oauth_fakes.claude.add_account("max@example.com", plan="max")
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        started = await _start(proxy, session)
        assert started["status"] == "ok" and len(started["state"]) == 32
        # The authorize URL reaches the fake (host override) and carries PKCE and the state.
        assert started["url"].startswith(oauth_fakes.overrides["https://claude.ai"])
        callback = await _browser(session, started["url"])
        assert callback.startswith("http://localhost:54545/callback?")

        # The pasted URL needs no management key: the state is the secret.
        pasted = {"provider": "anthropic", "redirect_url": callback}
        url = f"{proxy.base_url}/v0/management/oauth-callback"
        async with session.post(url, json=pasted) as resp:
            assert resp.status == 200, await resp.text()
            assert await resp.json() == {"status": "ok"}
        assert (await wait_status(proxy, session, started["state"]))["status"] == "ok"
        # Single use: the same callback again is refused without writing anything.
        async with session.post(url, json=pasted) as resp:
            assert resp.status == 409

        path = tmp_path / "auths" / "claude-max@example.com.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        data = json.loads(path.read_text())
        assert data["type"] == "claude" and data["email"] == "max@example.com"
        assert data["access_token"].startswith("sk-ant-oat01-")
        assert data["account_uuid"] == account.id and len(data["claude_device_ids"][0]) == 64
        exchange = oauth_fakes.log.select(provider="claude", kind="exchange")[-1]
        assert exchange.encoding == "json" and exchange.status == 200

        files = await auth_files(proxy, session)
        (entry,) = files
        assert entry["type"] == "claude" and entry["auth_type"] == "oauth"
        assert entry["status"] == "active" and entry["expired"]
        assert not oauth_fakes.leaked_in(json.dumps(files))

        async with anthropic.AsyncAnthropic(api_key=CLIENT_KEY, base_url=proxy.base_url) as claude:
            reply = await claude.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=64,
                system="Answer briefly.",
                messages=[{"role": "user", "content": "hi"}],
            )
        assert reply.content[0].text == "Hello from claude account max@example.com."

        async with openai.AsyncOpenAI(api_key=CLIENT_KEY, base_url=f"{proxy.base_url}/v1") as chat:
            stream = await chat.chat.completions.create(
                model="claude-sonnet-4-6",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "Hello from claude account max@example.com."

        sent = oauth_fakes.log.select(provider="claude", kind="inference", status=200)
        assert len(sent) == 2
        for rec in sent:
            assert rec.query.get("beta") == "true"
            assert "oauth-2025-04-20" in rec.headers["anthropic-beta"]
            assert rec.headers["x-app"] == "cli"
            assert rec.headers["User-Agent"].startswith("claude-cli/")
            system = rec.body["system"]
            assert system[1]["text"].startswith("You are Claude Code")
            assert "device_id" in json.loads(rec.body["metadata"]["user_id"])
        assert "Answer briefly." in json.dumps(sent[0].body["messages"])
        assert not oauth_fakes.misplaced_secrets()


async def test_web_login_through_callback_listener(tmp_path, oauth_fakes: OAuthFakes, session):
    oauth_fakes.claude.add_account("web@example.com")
    port = free_port()
    config = oauth_config(tmp_path, oauth_fakes, **{"oauth-callback-ports": {"claude": port}})
    async with run_proxy(tmp_path, config) as proxy:
        started = await _start(proxy, session, is_webui="true")
        callback = await _browser(session, started["url"])
        # The redirect URI keeps the registered port; the operator maps it to the listener.
        assert callback.startswith("http://localhost:54545/callback?")
        moved = callback.replace("localhost:54545", f"127.0.0.1:{port}")
        async with session.get(moved) as resp:
            assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
        assert (await wait_status(proxy, session, started["state"]))["status"] == "ok"
        assert (tmp_path / "auths" / "claude-web@example.com.json").exists()

        async def closed() -> bool:
            try:
                async with session.get(f"http://127.0.0.1:{port}/callback"):
                    return False
            except aiohttp.ClientConnectionError:
                return True

        await eventually(closed)


async def test_main_port_callback_and_unknown_state(tmp_path, oauth_fakes: OAuthFakes, session):
    oauth_fakes.claude.add_account("main@example.com")
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        # An unknown state writes nothing and says so.
        url = f"{proxy.base_url}/v0/management/oauth-callback"
        async with session.get(url, params={"state": "f" * 32, "code": "x"}) as resp:
            assert resp.status == 404
            assert await resp.json() == {"status": "error", "error": "unknown or expired state"}
        async with session.get(url, params={"state": "../x", "code": "x"}) as resp:
            assert resp.status == 400

        started = await _start(proxy, session)
        callback = await _browser(session, started["url"])
        query = callback.split("?", 1)[1]
        async with session.get(f"{proxy.base_url}/anthropic/callback?{query}") as resp:
            assert resp.status == 200
        assert (await wait_status(proxy, session, started["state"]))["status"] == "ok"
        assert [p.name for p in (tmp_path / "auths").iterdir()] == ["claude-main@example.com.json"]


async def test_denied_and_cancelled_logins(tmp_path, oauth_fakes: OAuthFakes, session):
    oauth_fakes.claude.add_account("no@example.com")
    oauth_fakes.claude.consent = "deny"
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        started = await _start(proxy, session)
        callback = await _browser(session, started["url"])
        url = f"{proxy.base_url}/v0/management/oauth-callback"
        async with session.post(url, json={"redirect_url": callback}) as resp:
            assert resp.status == 200
        status = await wait_status(proxy, session, started["state"])
        assert status["status"] == "error" and "access_denied" in status["error"]

        second = await _start(proxy, session)
        cancel = f"{proxy.base_url}/v0/management/oauth-session"
        async with session.delete(cancel, params={"state": second["state"]}, headers=MGMT) as r:
            assert await r.json() == {"status": "ok", "cancelled": True}
        async with session.post(url, json={"state": second["state"], "code": "c"}) as resp:
            assert resp.status == 409
        assert not (tmp_path / "auths").exists() or not list((tmp_path / "auths").iterdir())
