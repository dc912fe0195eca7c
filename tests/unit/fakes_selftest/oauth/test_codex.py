"""The Codex fake, driven the way oauth-providers.md §3 says a client must talk to ChatGPT."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from tests.fakes.wire_base import Reply
from tests.unit.fakes_selftest.oauth.conftest import jwt_payload, pkce, query_of, sse_events

CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
REDIRECT = "http://localhost:1455/auth/callback"
TOKEN_URL = "https://auth.openai.com/oauth/token"
RESPONSES_URL = "https://chatgpt.com/backend-api/codex/responses"
USAGE_URL = "https://chatgpt.com/backend-api/wham/usage"
BODY = {
    "model": "gpt-5.5",
    "instructions": "",
    "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
    "stream": True,
    "store": False,
    "include": ["reasoning.encrypted_content"],
}


def headers(access: str, account_id: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {access}",
        "Accept": "text/event-stream",
        "Originator": "codex-tui",
        "Chatgpt-Account-Id": account_id,
    }


async def login(http, fakes) -> dict:
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "openid email profile offline_access",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "prompt": "login",
        "id_token_add_organizations": "true",
        "codex_cli_simplified_flow": "true",
        "state": "b" * 32,
    }
    url = fakes.url(f"https://auth.openai.com/oauth/authorize?{urlencode(params)}")
    async with http.get(url, allow_redirects=False) as response:
        location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    form = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "code": query_of(location)["code"],
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    async with http.post(
        fakes.url(TOKEN_URL), data=form, headers={"Accept": "application/json"}
    ) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_login_inference_refresh_inference(oauth_fakes, http):
    account = oauth_fakes.codex.add_account("pro@example.com", plan="pro")
    tokens = await login(http, oauth_fakes)
    claims = jwt_payload(tokens["id_token"])
    assert claims["email"] == "pro@example.com"
    auth = claims["https://api.openai.com/auth"]
    assert (auth["chatgpt_account_id"], auth["chatgpt_plan_type"]) == (account.id, "pro")

    async with http.post(
        oauth_fakes.url(RESPONSES_URL),
        json=BODY,
        headers=headers(tokens["access_token"], account.id),
    ) as response:
        assert response.status == 200
        events = await sse_events(response)
    names = [name for name, _ in events]
    assert names[0] == "response.created" and names[-1] == "response.completed"
    assert "response.output_item.done" in names
    completed = events[-1][1]["response"]
    assert "pro@example.com" in completed["output"][0]["content"][0]["text"]

    form = {
        "client_id": CLIENT_ID,
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "scope": "openid profile email",
    }
    async with http.post(oauth_fakes.url(TOKEN_URL), data=form) as response:
        renewed = await response.json()
    assert renewed["refresh_token"] != tokens["refresh_token"]
    assert jwt_payload(renewed["id_token"])["email"] == "pro@example.com"
    async with http.post(
        oauth_fakes.url(RESPONSES_URL),
        json=BODY,
        headers=headers(renewed["access_token"], account.id),
    ) as response:
        assert response.status == 200
        await response.read()

    async with http.post(oauth_fakes.url(TOKEN_URL), data=form) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "refresh_token_reused"


async def test_tool_call_stream(oauth_fakes, http):
    account = oauth_fakes.codex.signed_in
    tokens = oauth_fakes.codex.issue(account)
    oauth_fakes.codex.push(Reply(text="", tool=("shell", {"cmd": "ls"})))
    async with http.post(
        oauth_fakes.url(RESPONSES_URL), json=BODY, headers=headers(tokens.access_token, account.id)
    ) as response:
        events = await sse_events(response)
    done = [data["item"] for name, data in events if name == "response.output_item.done"]
    assert done[0]["type"] == "function_call" and done[0]["name"] == "shell"


async def test_exchange_wants_a_form(oauth_fakes, http):
    form = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": "x"}
    async with http.post(oauth_fakes.url(TOKEN_URL), json=form) as response:
        assert (response.status, (await response.json())["error"]) == (400, "invalid_request")


class TestResponsesRequirements:
    @pytest.mark.parametrize(
        ("change", "detail"),
        [
            ({"stream": False}, "Stream must be set to true"),
            ({"store": True}, "Store must be set to false"),
            ({"instructions": None}, "Instructions are required"),
        ],
    )
    async def test_body_rules(self, oauth_fakes, http, change, detail):
        account = oauth_fakes.codex.signed_in
        tokens = oauth_fakes.codex.issue(account)
        body = {**BODY, **change}
        if change.get("instructions", "") is None:
            del body["instructions"]
        async with http.post(
            oauth_fakes.url(RESPONSES_URL),
            json=body,
            headers=headers(tokens.access_token, account.id),
        ) as response:
            assert response.status == 400
            assert (await response.json()) == {"detail": detail}

    async def test_account_header_must_match_the_token(self, oauth_fakes, http):
        account = oauth_fakes.codex.signed_in
        tokens = oauth_fakes.codex.issue(account)
        other = oauth_fakes.codex.add_account()
        for account_id in (other.id, ""):
            async with http.post(
                oauth_fakes.url(RESPONSES_URL),
                json=BODY,
                headers=headers(tokens.access_token, account_id),
            ) as response:
                assert response.status == 403

    async def test_expired_token(self, oauth_fakes, http):
        account = oauth_fakes.codex.signed_in
        tokens = oauth_fakes.codex.issue(account)
        oauth_fakes.codex.expire_now(account)
        async with http.post(
            oauth_fakes.url(RESPONSES_URL),
            json=BODY,
            headers=headers(tokens.access_token, account.id),
        ) as response:
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "token_expired"


async def test_usage_limit_429(oauth_fakes, http):
    account = oauth_fakes.codex.signed_in
    tokens = oauth_fakes.codex.issue(account)
    oauth_fakes.codex.usage_limit(account, resets_in=900)
    async with http.post(
        oauth_fakes.url(RESPONSES_URL), json=BODY, headers=headers(tokens.access_token, account.id)
    ) as response:
        assert response.status == 429
        error = (await response.json())["error"]
    assert error["type"] == "usage_limit_reached"
    assert error["resets_in_seconds"] == 900
    assert abs(error["resets_at"] - (time.time() + 900)) < 5


async def test_wham_usage(oauth_fakes, http):
    account = oauth_fakes.codex.signed_in
    tokens = oauth_fakes.codex.issue(account)
    oauth_fakes.codex.set_usage(account, "secondary", 80, 3600)
    quota_headers = {
        "Authorization": f"Bearer {tokens.access_token}",
        "User-Agent": "codex-cli/1.0.0",
        "Chatgpt-Account-Id": account.id,
    }
    async with http.get(oauth_fakes.url(USAGE_URL), headers=quota_headers) as response:
        usage = await response.json()
    assert usage["plan_type"] == account.plan
    primary, secondary = (
        usage["rate_limit"]["primary_window"],
        usage["rate_limit"]["secondary_window"],
    )
    assert primary["limit_window_seconds"] == 18000
    assert (secondary["used_percent"], secondary["limit_window_seconds"]) == (80, 604800)
    assert abs(secondary["reset_at"] - (time.time() + 3600)) < 5


async def test_device_login(oauth_fakes, http):
    """usercode -> 403 while pending -> authorization_code + verifier -> form exchange."""
    oauth_fakes.codex.set_device_policy(pending_polls=2)
    account = oauth_fakes.codex.signed_in
    url = oauth_fakes.url("https://auth.openai.com/api/accounts/deviceauth/usercode")
    async with http.post(url, json={"client_id": CLIENT_ID}) as response:
        start = await response.json()
    assert set(start) == {"device_auth_id", "user_code", "interval"}
    poll_url = oauth_fakes.url("https://auth.openai.com/api/accounts/deviceauth/token")
    poll = {"device_auth_id": start["device_auth_id"], "user_code": start["user_code"]}
    for _ in range(2):
        async with http.post(poll_url, json=poll) as response:
            assert response.status == 403
    async with http.post(poll_url, json=poll) as response:
        assert response.status == 200
        answer = await response.json()
    assert set(answer) == {"authorization_code", "code_verifier", "code_challenge"}
    form = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "code": answer["authorization_code"],
        "redirect_uri": "https://auth.openai.com/deviceauth/callback",
        "code_verifier": answer["code_verifier"],
    }
    async with http.post(oauth_fakes.url(TOKEN_URL), data=form) as response:
        tokens = await response.json()
    assert jwt_payload(tokens["id_token"])["email"] == account.email
    assert oauth_fakes.log.count(kind="device_poll", provider="codex") == 3


async def test_device_login_denied_in_the_browser(oauth_fakes, http):
    oauth_fakes.codex.set_device_policy(pending_polls=None)
    oauth_fakes.codex.consent = "deny"
    url = oauth_fakes.url("https://auth.openai.com/api/accounts/deviceauth/usercode")
    async with http.post(url, json={"client_id": CLIENT_ID}) as response:
        start = await response.json()
    page = oauth_fakes.url(f"https://auth.openai.com/codex/device?user_code={start['user_code']}")
    async with http.get(page) as response:
        assert response.status == 200
    poll_url = oauth_fakes.url("https://auth.openai.com/api/accounts/deviceauth/token")
    poll = {"device_auth_id": start["device_auth_id"], "user_code": start["user_code"]}
    async with http.post(poll_url, json=poll) as response:
        assert (await response.json())["error"]["code"] == "access_denied"
