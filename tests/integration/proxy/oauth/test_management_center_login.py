"""The Management Center's OAuth page, call for call (management-center-client.md "OAuth" and
"Quota"): start with is_webui from the browser's origin, poll, paste the redirect URL, then the
quota click through api-call with camelCase authIndex."""

from __future__ import annotations

import json

from tests.conftest import free_port
from tests.fakes.oauth.harness import OAuthFakes
from tests.integration.proxy.harness import eventually, run_proxy
from tests.integration.proxy.oauth.conftest import MGMT, oauth_config

ORIGIN = "http://panel.example:5173"
PANEL = {**MGMT, "Origin": ORIGIN}


async def test_panel_login_and_quota_click(tmp_path, oauth_fakes: OAuthFakes, session):
    oauth_fakes.claude.add_account("panel@example.com")
    ports = {"oauth-callback-ports": {"claude": free_port()}}
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes, **ports)) as proxy:
        base = f"{proxy.base_url}/v0/management"
        async with session.get(f"{base}/plugins", headers=PANEL) as resp:
            assert await resp.json() == {"plugins": []}
        async with session.get(
            f"{base}/anthropic-auth-url", params={"is_webui": "true"}, headers=PANEL
        ) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
            started = await resp.json()
        async with session.get(
            f"{base}/get-auth-status", params={"state": started["state"]}, headers=PANEL
        ) as resp:
            assert await resp.json() == {"status": "wait"}

        # The user signs in on another machine and pastes where the browser ended up.
        async with session.get(started["url"], allow_redirects=False) as resp:
            redirect = resp.headers["Location"]
        body = {"provider": "anthropic", "redirect_url": redirect}
        async with session.post(f"{base}/oauth-callback", json=body, headers=PANEL) as resp:
            assert resp.status == 200

        async def done() -> dict:
            async with session.get(
                f"{base}/get-auth-status", params={"state": started["state"]}, headers=PANEL
            ) as resp:
                return await resp.json()

        await eventually(lambda: _ok(done))
        async with session.get(f"{base}/auth-files", headers=PANEL) as resp:
            (entry,) = (await resp.json())["files"]
        call = {
            "authIndex": entry["auth_index"],
            "method": "GET",
            "url": "https://api.anthropic.com/api/oauth/usage",
            "header": {
                "Authorization": "Bearer $TOKEN$",
                "anthropic-beta": "oauth-2025-04-20",
                "Accept": "application/json",
            },
        }
        async with session.post(f"{base}/api-call", json=call, headers=PANEL) as resp:
            reply = await resp.json()
        assert reply["status_code"] == 200 and "five_hour" in json.loads(reply["body"])


async def _ok(poll) -> bool:
    return (await poll())["status"] == "ok"
