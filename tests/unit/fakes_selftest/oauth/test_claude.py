"""The Claude fake, driven the way oauth-providers.md §2 says a client must talk to Claude."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from tests.fakes.wire_base import Reply
from tests.unit.fakes_selftest.oauth.conftest import pkce, query_of, sse_events

CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
REDIRECT = "http://localhost:54545/callback"
SCOPE = "user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload"
AXIOS = {"Accept": "application/json, text/plain, */*", "User-Agent": "axios/1.15.2"}
TOKEN_URL = "https://platform.claude.com/v1/oauth/token"
MESSAGES_URL = "https://api.anthropic.com/v1/messages?beta=true"
BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}


def api_headers(access: str, **extra: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {access}",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219,oauth-2025-04-20",
        **extra,
    }


async def authorize(http, fakes, challenge: str, **overrides: str):
    params = {
        "code": "true",
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "a" * 32,
        **overrides,
    }
    url = fakes.url(f"https://claude.ai/oauth/authorize?{urlencode(params)}")
    return await http.get(url, allow_redirects=False)


async def login(http, fakes) -> dict:
    verifier, challenge = pkce()
    redirect = await authorize(http, fakes, challenge)
    query = query_of(redirect.headers["Location"])
    body = {
        "grant_type": "authorization_code",
        "code": query["code"],
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "code_verifier": verifier,
        "state": query["state"],
    }
    async with http.post(fakes.url(TOKEN_URL), json=body, headers=AXIOS) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_login_inference_refresh_inference(oauth_fakes, http):
    """authorize -> code -> JSON exchange -> profile -> messages -> refresh -> messages."""
    account = oauth_fakes.claude.add_account("max@example.com", plan="max")
    redirect = await authorize(http, oauth_fakes, pkce()[1])
    assert redirect.status == 302
    location = redirect.headers["Location"]
    assert location.startswith(REDIRECT + "?code=")
    assert query_of(location)["state"] == "a" * 32

    tokens = await login(http, oauth_fakes)
    assert tokens["access_token"].startswith("sk-ant-oat01-")
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0
    assert tokens["account"] == {"uuid": account.id, "email_address": "max@example.com"}
    assert tokens["organization"]["uuid"] == account.org_id

    profile_url = oauth_fakes.url("https://api.anthropic.com/api/oauth/profile")
    auth = {"Authorization": f"Bearer {tokens['access_token']}", **AXIOS}
    async with http.get(profile_url, headers=auth) as response:
        profile = await response.json()
    assert profile["account"]["email"] == "max@example.com"
    assert profile["account"]["has_claude_max"] is True
    roles_url = oauth_fakes.url("https://api.anthropic.com/api/oauth/claude_cli/roles")
    async with http.get(roles_url, headers=auth) as response:
        assert response.status == 200

    async with http.post(
        oauth_fakes.url(MESSAGES_URL), json=BODY, headers=api_headers(tokens["access_token"])
    ) as response:
        assert response.status == 200
        message = await response.json()
    assert message["type"] == "message"
    assert "max@example.com" in message["content"][0]["text"]

    refresh = {
        "client_id": CLIENT_ID,
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "scope": SCOPE,
    }
    async with http.post(oauth_fakes.url(TOKEN_URL), json=refresh, headers=AXIOS) as response:
        assert response.status == 200
        renewed = await response.json()
    assert renewed["access_token"] != tokens["access_token"]
    assert renewed["refresh_token"] != tokens["refresh_token"]
    assert oauth_fakes.log.refreshed_before_expiry(account)

    async with http.post(
        oauth_fakes.url(MESSAGES_URL), json=BODY, headers=api_headers(renewed["access_token"])
    ) as response:
        assert response.status == 200
    assert oauth_fakes.log.count(kind="inference", account=account, status=200) == 2

    async with http.post(oauth_fakes.url(TOKEN_URL), json=refresh, headers=AXIOS) as response:
        assert response.status == 400  # the rotated refresh token is spent
        assert (await response.json())["error"] == "invalid_grant"


async def test_stream_with_tool_call(oauth_fakes, http):
    tokens = await login(http, oauth_fakes)
    oauth_fakes.claude.push(Reply(text="", tool=("get_weather", {"city": "Paris"})))
    async with http.post(
        oauth_fakes.url(MESSAGES_URL),
        json={**BODY, "stream": True},
        headers=api_headers(tokens["access_token"]),
    ) as response:
        assert response.content_type == "text/event-stream"
        assert response.headers["anthropic-ratelimit-unified-status"] == "allowed"
        events = await sse_events(response)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    starts = [data["content_block"] for name, data in events if name == "content_block_start"]
    assert starts == [
        {"type": "tool_use", "id": starts[0]["id"], "name": "get_weather", "input": {}}
    ]
    delta = next(data for name, data in events if name == "message_delta")
    assert delta["delta"]["stop_reason"] == "tool_use"


async def test_pasted_code_hash_state(oauth_fakes, http):
    """The manual flow's `code#state`: the client splits on '#'; the whole string is no code."""
    verifier, challenge = pkce()
    await authorize(http, oauth_fakes, challenge, state="s" * 32)
    pasted = oauth_fakes.claude.pasted_code()
    code, state = pasted.split("#")
    assert state == "s" * 32
    body = {
        "grant_type": "authorization_code",
        "code": pasted,
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "code_verifier": verifier,
        "state": state,
    }
    async with http.post(oauth_fakes.url(TOKEN_URL), json=body) as response:
        assert response.status == 400 and (await response.json())["error"] == "invalid_grant"
    async with http.post(
        oauth_fakes.url(TOKEN_URL), json={**body, "code": code, "state": "x"}
    ) as response:
        assert response.status == 400 and (await response.json())["error"] == "invalid_request"
    async with http.post(oauth_fakes.url(TOKEN_URL), json={**body, "code": code}) as response:
        assert response.status == 200


class TestAuthorizeAndExchangeErrors:
    async def test_wrong_redirect_uri_is_not_redirected(self, oauth_fakes, http):
        response = await authorize(
            http, oauth_fakes, pkce()[1], redirect_uri="http://localhost:1/cb"
        )
        assert response.status == 400
        assert "Location" not in response.headers

    async def test_unknown_client_is_not_redirected(self, oauth_fakes, http):
        response = await authorize(http, oauth_fakes, pkce()[1], client_id="someone-else")
        assert response.status == 400

    async def test_missing_challenge_redirects_with_error(self, oauth_fakes, http):
        response = await authorize(http, oauth_fakes, "", code_challenge_method="")
        query = query_of(response.headers["Location"])
        assert (response.status, query["error"], query["state"]) == (
            302,
            "invalid_request",
            "a" * 32,
        )

    async def test_plain_challenge_method_is_refused(self, oauth_fakes, http):
        response = await authorize(http, oauth_fakes, "abc", code_challenge_method="plain")
        assert query_of(response.headers["Location"])["error"] == "invalid_request"

    async def test_unknown_scope_is_refused(self, oauth_fakes, http):
        response = await authorize(http, oauth_fakes, pkce()[1], scope="user:inference admin:all")
        assert query_of(response.headers["Location"])["error"] == "invalid_scope"

    async def test_user_denies(self, oauth_fakes, http):
        oauth_fakes.claude.consent = "deny"
        response = await authorize(http, oauth_fakes, pkce()[1])
        assert query_of(response.headers["Location"])["error"] == "access_denied"

    @pytest.mark.parametrize(
        ("change", "status", "error"),
        [
            ({"code_verifier": "not-the-verifier"}, 400, "invalid_grant"),
            ({"redirect_uri": "http://localhost:54546/callback"}, 400, "invalid_grant"),
            ({"client_id": "other"}, 401, "invalid_client"),
            ({"code": "ac_unknown"}, 400, "invalid_grant"),
        ],
    )
    async def test_exchange_checks(self, oauth_fakes, http, change, status, error):
        verifier, challenge = pkce()
        query = query_of((await authorize(http, oauth_fakes, challenge)).headers["Location"])
        body = {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": REDIRECT,
            "client_id": CLIENT_ID,
            "code_verifier": verifier,
            "state": query["state"],
            **change,
        }
        async with http.post(oauth_fakes.url(TOKEN_URL), json=body) as response:
            assert response.status == status
            assert (await response.json())["error"] == error

    async def test_code_is_single_use(self, oauth_fakes, http):
        verifier, challenge = pkce()
        query = query_of((await authorize(http, oauth_fakes, challenge)).headers["Location"])
        body = {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": REDIRECT,
            "client_id": CLIENT_ID,
            "code_verifier": verifier,
            "state": query["state"],
        }
        async with http.post(oauth_fakes.url(TOKEN_URL), json=body) as response:
            assert response.status == 200
        async with http.post(oauth_fakes.url(TOKEN_URL), json=body) as response:
            assert (await response.json())["error"] == "invalid_grant"

    async def test_form_body_is_refused(self, oauth_fakes, http):
        """Claude's token endpoint takes JSON (§2.1), unlike the others."""
        form = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": CLIENT_ID}
        async with http.post(oauth_fakes.url(TOKEN_URL), data=form) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "invalid_request"

    async def test_v6_token_url_works_too(self, oauth_fakes, http):
        tokens = oauth_fakes.claude.issue(oauth_fakes.claude.signed_in)
        body = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            "client_id": CLIENT_ID,
        }
        url = oauth_fakes.url("https://api.anthropic.com/v1/oauth/token")
        async with http.post(url, json=body) as response:
            assert response.status == 200


class TestMessagesRequirements:
    @pytest.mark.parametrize(
        ("drop", "status", "message"),
        [
            ("anthropic-beta", 401, "OAuth authentication is currently not supported."),
            ("anthropic-version", 400, "anthropic-version: header is required"),
            ("Authorization", 401, "x-api-key header is required"),
        ],
    )
    async def test_missing_header(self, oauth_fakes, http, drop, status, message):
        tokens = oauth_fakes.claude.issue(oauth_fakes.claude.signed_in)
        headers = api_headers(tokens.access_token)
        del headers[drop]
        async with http.post(oauth_fakes.url(MESSAGES_URL), json=BODY, headers=headers) as response:
            assert response.status == status
            body = await response.json()
        assert body["type"] == "error"
        assert body["error"]["message"] == message

    async def test_beta_query_and_no_api_key(self, oauth_fakes, http):
        tokens = oauth_fakes.claude.issue(oauth_fakes.claude.signed_in)
        url = oauth_fakes.url("https://api.anthropic.com/v1/messages")
        async with http.post(url, json=BODY, headers=api_headers(tokens.access_token)) as response:
            assert response.status == 400
        headers = api_headers(tokens.access_token, **{"x-api-key": tokens.access_token})
        async with http.post(oauth_fakes.url(MESSAGES_URL), json=BODY, headers=headers) as response:
            assert response.status == 401

    async def test_expired_and_revoked_tokens(self, oauth_fakes, http):
        account = oauth_fakes.claude.signed_in
        tokens = oauth_fakes.claude.issue(account)
        oauth_fakes.claude.expire_now(account)
        headers = api_headers(tokens.access_token)
        async with http.post(oauth_fakes.url(MESSAGES_URL), json=BODY, headers=headers) as response:
            body = await response.json()
        assert response.status == 401
        assert body["error"]["type"] == "authentication_error"
        assert "expired" in body["error"]["message"]
        refresh = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            "client_id": CLIENT_ID,
        }
        async with http.post(oauth_fakes.url(TOKEN_URL), json=refresh) as response:
            assert response.status == 200
        (seen,) = oauth_fakes.log.refreshes(account)
        assert seen.notes["expired"] is True

        oauth_fakes.claude.revoke(account)
        renewed = oauth_fakes.claude.grants.issued[-1]
        refresh["refresh_token"] = renewed.refresh_token
        async with http.post(oauth_fakes.url(TOKEN_URL), json=refresh) as response:
            assert (response.status, (await response.json())["error"]) == (400, "invalid_grant")

    async def test_missing_body_field(self, oauth_fakes, http):
        tokens = oauth_fakes.claude.issue(oauth_fakes.claude.signed_in)
        body = {k: v for k, v in BODY.items() if k != "max_tokens"}
        headers = api_headers(tokens.access_token)
        async with http.post(oauth_fakes.url(MESSAGES_URL), json=body, headers=headers) as response:
            assert response.status == 400
            assert (await response.json())["error"]["message"] == "max_tokens: Field required"

    async def test_count_tokens(self, oauth_fakes, http):
        tokens = oauth_fakes.claude.issue(oauth_fakes.claude.signed_in)
        url = oauth_fakes.url("https://api.anthropic.com/v1/messages/count_tokens?beta=true")
        async with http.post(url, json=BODY, headers=api_headers(tokens.access_token)) as response:
            assert (await response.json())["input_tokens"] > 0


class TestFaultsAndQuota:
    async def test_unified_rate_limit_429(self, oauth_fakes, http):
        account = oauth_fakes.claude.signed_in
        tokens = oauth_fakes.claude.issue(account)
        oauth_fakes.claude.rate_limit(account, windows=("5h",), reset_in=1800, retry_after=60)
        headers = api_headers(tokens.access_token)
        for _ in range(2):  # lasts until the reset, not one request
            async with http.post(
                oauth_fakes.url(MESSAGES_URL), json=BODY, headers=headers
            ) as response:
                assert response.status == 429
                assert (await response.json())["error"]["type"] == "rate_limit_error"
        got = response.headers
        assert got["anthropic-ratelimit-unified-status"] == "rejected"
        assert got["anthropic-ratelimit-unified-5h-status"] == "rejected"
        assert got["anthropic-ratelimit-unified-7d-status"] == "allowed"
        assert abs(int(got["anthropic-ratelimit-unified-5h-reset"]) - (time.time() + 1800)) < 5
        assert got["retry-after"] == "60"
        oauth_fakes.claude.clear_faults(account)
        async with http.post(oauth_fakes.url(MESSAGES_URL), json=BODY, headers=headers) as response:
            assert response.status == 200

    async def test_7d_window(self, oauth_fakes, http):
        account = oauth_fakes.claude.signed_in
        tokens = oauth_fakes.claude.issue(account)
        oauth_fakes.claude.rate_limit(account, windows=("7d", "7d_oi"), reset_in=86400, times=1)
        headers = api_headers(tokens.access_token)
        async with http.post(oauth_fakes.url(MESSAGES_URL), json=BODY, headers=headers) as response:
            assert response.headers["anthropic-ratelimit-unified-7d-status"] == "rejected"
            assert response.headers["anthropic-ratelimit-unified-7d_oi-status"] == "rejected"
            assert response.headers["anthropic-ratelimit-unified-5h-status"] == "allowed"
        async with http.post(oauth_fakes.url(MESSAGES_URL), json=BODY, headers=headers) as response:
            assert response.status == 200  # times=1

    @pytest.mark.parametrize(
        ("kind", "status", "retry_after"),
        [("rate_limited", 429, "7"), ("server_error", 503, None), ("invalid_grant", 400, None)],
    )
    async def test_refresh_failures(self, oauth_fakes, http, kind, status, retry_after):
        account = oauth_fakes.claude.signed_in
        tokens = oauth_fakes.claude.issue(account)
        oauth_fakes.claude.fail_refresh(account, kind, retry_after=7)
        refresh = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            "client_id": CLIENT_ID,
        }
        async with http.post(oauth_fakes.url(TOKEN_URL), json=refresh) as response:
            assert response.status == status
            assert response.headers.get("Retry-After") == retry_after
        async with http.post(oauth_fakes.url(TOKEN_URL), json=refresh) as response:
            assert response.status == 200  # the scripted failure was one-shot

    async def test_usage_endpoint_and_success_headers(self, oauth_fakes, http):
        account = oauth_fakes.claude.signed_in
        tokens = oauth_fakes.claude.issue(account)
        oauth_fakes.claude.set_usage(account, "five_hour", 42.0, 600)
        headers = {
            "Authorization": f"Bearer {tokens.access_token}",
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "oauth-2025-04-20",
        }
        async with http.get(
            oauth_fakes.url("https://api.anthropic.com/api/oauth/usage"), headers=headers
        ) as r:
            usage = await r.json()
        assert usage["five_hour"]["utilization"] == 42.0
        assert usage["five_hour"]["resets_at"].endswith("Z")
        assert set(usage) >= {
            "five_hour",
            "seven_day",
            "seven_day_sonnet",
            "seven_day_opus",
            "extra_usage",
        }
        async with http.post(
            oauth_fakes.url(MESSAGES_URL), json=BODY, headers=api_headers(tokens.access_token)
        ) as response:
            assert response.headers["anthropic-ratelimit-unified-5h-utilization"] == "0.42"
