"""Kimi (§5) and xAI (§6): RFC 8628 device logins, refresh and inference, driven as a client
must: poll no faster than `interval`, add 5 s after slow_down, stop on expired/denied.

Waiting out the interval is simulated by moving the fake's record of the last poll back in
time, so these tests need no sleeps.
"""

from __future__ import annotations

import pytest

from tests.fakes.wire_base import Reply
from tests.unit.fakes_selftest.oauth.conftest import jwt_payload, sse_events

KIMI_ID = "17e5f671-d194-4dfb-9706-5516cb48c098"
XAI_ID = "b1a00492-073a-47ea-816f-4c329264a828"
XAI_SCOPE = "openid profile email offline_access grok-cli:access api:access"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MSH = {
    "X-Msh-Platform": "CLIProxyAPI",
    "X-Msh-Version": "1.0.0",
    "X-Msh-Device-Name": "host",
    "X-Msh-Device-Model": "Linux amd64",
    "X-Msh-Device-Id": "3b5c3e0e-1d1e-4c3a-9f55-5a3c7d9e0001",
}
GROK = {
    "X-XAI-Token-Auth": "xai-grok-cli",
    "x-grok-client-version": "0.2.120",
    "User-Agent": "xai-grok-workspace/0.2.120",
    "x-grok-client-identifier": "grok-shell",
    "x-authenticateresponse": "authenticate-response",
}


def wait_interval(provider, device_code: str) -> None:
    """As if the client had waited the current interval since its last poll."""
    grant = provider.grants.devices[device_code]
    grant.last_poll -= grant.interval


# -- Kimi -------------------------------------------------------------------------------------


async def kimi_start(http, fakes) -> dict:
    url = fakes.url("https://auth.kimi.com/api/oauth/device_authorization")
    async with http.post(url, data={"client_id": KIMI_ID}, headers=MSH) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def kimi_poll(http, fakes, device_code: str):
    form = {"client_id": KIMI_ID, "device_code": device_code, "grant_type": DEVICE_GRANT}
    async with http.post(
        fakes.url("https://auth.kimi.com/api/oauth/token"), data=form, headers=MSH
    ) as r:
        return r.status, await r.json()


async def test_kimi_device_login_pending_slow_down_then_tokens(oauth_fakes, http):
    kimi = oauth_fakes.kimi
    kimi.set_device_policy(pending_polls=2, interval=5)
    start = await kimi_start(http, oauth_fakes)
    assert set(start) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert start["verification_uri"].startswith("https://auth.kimi.com/")  # a real URL to rewrite
    assert start["interval"] == 5
    code = start["device_code"]
    assert await kimi_poll(http, oauth_fakes, code) == (
        400,
        {"error": "authorization_pending", "error_description": "the user has not approved yet"},
    )
    status, body = await kimi_poll(http, oauth_fakes, code)  # too soon
    assert (status, body["error"]) == (400, "slow_down")
    assert kimi.grants.devices[code].interval == 10  # RFC 8628: +5 s
    wait_interval(kimi, code)
    assert (await kimi_poll(http, oauth_fakes, code))[1]["error"] == "authorization_pending"
    wait_interval(kimi, code)
    status, tokens = await kimi_poll(http, oauth_fakes, code)
    assert status == 200
    assert set(tokens) >= {"access_token", "refresh_token", "expires_in", "token_type", "scope"}
    wait_interval(kimi, code)
    assert (await kimi_poll(http, oauth_fakes, code))[1]["error"] == "invalid_grant"  # used up

    headers = {
        **MSH,
        "Authorization": f"Bearer {tokens['access_token']}",
        "User-Agent": "CLIProxyAPI/7",
    }
    body = {"model": "k2", "messages": [{"role": "user", "content": "Hi"}]}
    url = oauth_fakes.url("https://api.kimi.com/coding/v1/chat/completions")
    async with http.post(url, json=body, headers=headers) as r:
        answer = await r.json()
    assert answer["object"] == "chat.completion"
    assert answer["usage"]["total_tokens"] > 0

    form = {
        "client_id": KIMI_ID,
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
    }
    async with http.post(
        oauth_fakes.url("https://auth.kimi.com/api/oauth/token"), data=form, headers=MSH
    ) as r:
        renewed = await r.json()
    assert renewed["refresh_token"] != tokens["refresh_token"]
    async with http.post(
        oauth_fakes.url("https://auth.kimi.com/api/oauth/token"), data=form, headers=MSH
    ) as r:
        assert (r.status, (await r.json())["error"]) == (
            401,
            "invalid_grant",
        )  # §5: rejected -> 401

    kimi.push(Reply(text="", tool=("search", {"q": "x"})))
    headers["Authorization"] = f"Bearer {renewed['access_token']}"
    async with http.post(url, json={**body, "stream": True}, headers=headers) as r:
        events = await sse_events(r)
    assert events[-1][1] == "[DONE]"
    calls = [d["choices"][0]["delta"].get("tool_calls") for _, d in events[:-1] if d["choices"]]
    assert any(c and c[0].get("function", {}).get("name") == "search" for c in calls)


@pytest.mark.parametrize("outcome", ["access_denied", "expired_token"])
async def test_kimi_scripted_outcomes(oauth_fakes, http, outcome):
    oauth_fakes.kimi.set_device_policy(pending_polls=1, outcome=outcome, interval=1)
    code = (await kimi_start(http, oauth_fakes))["device_code"]
    assert (await kimi_poll(http, oauth_fakes, code))[1]["error"] == "authorization_pending"
    wait_interval(oauth_fakes.kimi, code)
    assert (await kimi_poll(http, oauth_fakes, code))[1]["error"] == outcome


async def test_kimi_requirements(oauth_fakes, http):
    url = oauth_fakes.url("https://auth.kimi.com/api/oauth/device_authorization")
    async with http.post(url, data={"client_id": KIMI_ID}) as r:
        assert (r.status, (await r.json())["error"]) == (400, "invalid_request")  # no X-Msh-*
    tokens = oauth_fakes.kimi.issue(oauth_fakes.kimi.signed_in)
    chat = oauth_fakes.url("https://api.kimi.com/coding/v1/chat/completions")
    auth = {"Authorization": f"Bearer {tokens.access_token}"}
    body = {"model": "k2", "messages": [{"role": "user", "content": "Hi"}]}
    async with http.post(chat, json=body, headers=auth) as r:
        assert r.status == 400
    async with http.post(chat, json={**body, "model": "kimi-k2"}, headers={**auth, **MSH}) as r:
        assert r.status == 404  # the proxy must strip the kimi- prefix
    oauth_fakes.kimi.expire_now(oauth_fakes.kimi.signed_in)
    async with http.post(chat, json=body, headers={**auth, **MSH}) as r:
        assert (r.status, (await r.json())["error"]["type"]) == (
            401,
            "invalid_authentication_error",
        )


# -- xAI --------------------------------------------------------------------------------------


async def xai_discover(http, fakes) -> dict:
    url = fakes.url("https://auth.x.ai/.well-known/openid-configuration")
    async with http.get(url) as response:
        return await response.json()


async def test_xai_discovery_device_login_refresh_inference(oauth_fakes, http):
    xai = oauth_fakes.xai
    account = xai.add_account("grok@example.com")
    xai.set_device_policy(pending_polls=None, interval=5)  # waits for the user
    discovery = await xai_discover(http, oauth_fakes)
    for key in ("device_authorization_endpoint", "token_endpoint"):
        assert discovery[key].startswith("https://auth.x.ai/")  # real https x.ai URLs
    form = {"client_id": XAI_ID, "scope": XAI_SCOPE}
    async with http.post(
        oauth_fakes.url(discovery["device_authorization_endpoint"]), data=form
    ) as r:
        start = await r.json()
    token_url = oauth_fakes.url(discovery["token_endpoint"])
    poll = {"grant_type": DEVICE_GRANT, "device_code": start["device_code"], "client_id": XAI_ID}
    async with http.post(token_url, data=poll) as r:
        assert (await r.json())["error"] == "authorization_pending"

    async with http.get(oauth_fakes.url(start["verification_uri_complete"])) as r:
        assert r.status == 200  # the user approves in the browser
    wait_interval(xai, start["device_code"])
    async with http.post(token_url, data=poll) as r:
        tokens = await r.json()
    claims = jwt_payload(tokens["id_token"])
    assert (claims["email"], claims["sub"]) == ("grok@example.com", account.id)

    refresh = {
        "grant_type": "refresh_token",
        "client_id": XAI_ID,
        "refresh_token": tokens["refresh_token"],
    }
    async with http.post(token_url, data=refresh) as r:
        renewed = await r.json()
    assert renewed["access_token"] != tokens["access_token"]

    url = oauth_fakes.url("https://cli-chat-proxy.grok.com/v1/responses")
    headers = {**GROK, "Authorization": f"Bearer {renewed['access_token']}"}
    body = {"model": "grok-4.5", "input": "Hi"}
    async with http.post(url, json=body, headers=headers) as r:
        answer = await r.json()
    assert answer["status"] == "completed"
    assert "grok@example.com" in answer["output"][0]["content"][0]["text"]
    async with http.post(url, json={**body, "stream": True}, headers=headers) as r:
        names = [name for name, _ in await sse_events(r)]
    assert names[-1] == "response.completed" and "response.output_item.done" in names

    del headers["X-XAI-Token-Auth"]
    async with http.post(url, json=body, headers=headers) as r:
        assert r.status == 403
    plain = oauth_fakes.url("https://api.x.ai/v1/responses")
    async with http.post(plain, json=body, headers=headers) as r:
        assert r.status == 200  # the plain API needs no Grok CLI headers


async def test_xai_slow_down_and_denial(oauth_fakes, http):
    oauth_fakes.xai.set_device_policy(pending_polls=1, outcome="access_denied", interval=5)
    discovery = await xai_discover(http, oauth_fakes)
    form = {"client_id": XAI_ID, "scope": XAI_SCOPE}
    async with http.post(
        oauth_fakes.url(discovery["device_authorization_endpoint"]), data=form
    ) as r:
        code = (await r.json())["device_code"]
    poll = {"grant_type": DEVICE_GRANT, "device_code": code, "client_id": XAI_ID}
    token_url = oauth_fakes.url(discovery["token_endpoint"])
    errors = []
    for _ in range(2):
        async with http.post(token_url, data=poll) as r:
            errors.append((await r.json())["error"])
    wait_interval(oauth_fakes.xai, code)
    async with http.post(token_url, data=poll) as r:
        errors.append((await r.json())["error"])
    assert errors == ["authorization_pending", "slow_down", "access_denied"]


async def test_xai_unknown_scope(oauth_fakes, http):
    discovery = await xai_discover(http, oauth_fakes)
    form = {"client_id": XAI_ID, "scope": "openid admin"}
    async with http.post(
        oauth_fakes.url(discovery["device_authorization_endpoint"]), data=form
    ) as r:
        assert (r.status, (await r.json())["error"]) == (400, "invalid_scope")
