"""The harness: one local origin per real origin, a shared request log, and leak checks."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from tests.fakes.oauth import OAuthFakes

ORIGINS = {
    "https://claude.ai",
    "https://platform.claude.com",
    "https://api.anthropic.com",
    "https://auth.openai.com",
    "https://chatgpt.com",
    "https://accounts.google.com",
    "https://oauth2.googleapis.com",
    "https://www.googleapis.com",
    "https://cloudcode-pa.googleapis.com",
    "https://daily-cloudcode-pa.googleapis.com",
    "https://cloudresourcemanager.googleapis.com",
    "https://serviceusage.googleapis.com",
    "https://auth.kimi.com",
    "https://api.kimi.com",
    "https://auth.x.ai",
    "https://api.x.ai",
    "https://cli-chat-proxy.grok.com",
}


async def test_overrides_map_each_real_origin_to_its_own_loopback_port(oauth_fakes, http):
    assert set(oauth_fakes.overrides) == ORIGINS
    ports = {urlsplit(local).port for local in oauth_fakes.overrides.values()}
    assert len(ports) == len(ORIGINS)
    assert all(local.startswith("http://127.0.0.1:") for local in oauth_fakes.overrides.values())
    assert oauth_fakes.url("https://claude.ai/oauth/authorize?x=1") == (
        oauth_fakes.overrides["https://claude.ai"] + "/oauth/authorize?x=1"
    )


async def test_unknown_path_is_404_and_recorded(oauth_fakes, http):
    async with http.post(
        oauth_fakes.url("https://chatgpt.com/backend-api/nope"), json={"a": 1}
    ) as r:
        assert r.status == 404
    (seen,) = oauth_fakes.log.select(kind="unknown")
    assert (seen.origin, seen.path, seen.body, seen.status) == (
        "https://chatgpt.com",
        "/backend-api/nope",
        {"a": 1},
        404,
    )


async def test_every_request_is_recorded_with_account_and_kind(oauth_fakes, http):
    account = oauth_fakes.claude.add_account("rec@example.com")
    tokens = oauth_fakes.claude.issue(account)
    url = oauth_fakes.url("https://api.anthropic.com/api/oauth/profile")
    async with http.get(url, headers={"Authorization": f"Bearer {tokens.access_token}"}):
        pass
    (seen,) = oauth_fakes.log.select(provider="claude", kind="profile")
    assert seen.account == "rec@example.com"
    assert seen.bearer == tokens.access_token
    assert seen.method == "GET" and seen.status == 200
    assert oauth_fakes.log.count(account=account) == 1


async def test_wait_for_awaits_a_request_made_later(oauth_fakes, http):
    account = oauth_fakes.kimi.add_account()
    tokens = oauth_fakes.kimi.issue(account)
    waiter = asyncio.create_task(oauth_fakes.log.wait_for(kind="refresh", account=account))
    await asyncio.sleep(0)
    assert not waiter.done()
    form = {
        "client_id": "17e5f671-d194-4dfb-9706-5516cb48c098",
        "grant_type": "refresh_token",
        "refresh_token": tokens.refresh_token,
    }
    headers = {
        h: "x"
        for h in (
            "X-Msh-Platform",
            "X-Msh-Version",
            "X-Msh-Device-Name",
            "X-Msh-Device-Model",
            "X-Msh-Device-Id",
        )
    }
    async with http.post(
        oauth_fakes.url("https://auth.kimi.com/api/oauth/token"), data=form, headers=headers
    ):
        pass
    (seen,) = await asyncio.wait_for(waiter, 5)
    assert seen.status == 200 and seen.notes["expired"] is False


async def test_misplaced_and_leaked_secrets(oauth_fakes, http):
    claude = oauth_fakes.claude.issue(oauth_fakes.claude.signed_in)
    google = oauth_fakes.google.issue(oauth_fakes.google.signed_in, "antigravity")
    # Right place: no finding.
    url = oauth_fakes.url("https://api.anthropic.com/api/oauth/profile")
    async with http.get(url, headers={"Authorization": f"Bearer {claude.access_token}"}):
        pass
    assert oauth_fakes.misplaced_secrets() == []
    # A Claude token sent to Google, a Google token in a URL, a refresh token as a Bearer.
    userinfo = oauth_fakes.url("https://www.googleapis.com/oauth2/v2/userinfo")
    async with http.get(userinfo, headers={"Authorization": f"Bearer {claude.access_token}"}):
        pass
    async with http.get(f"{userinfo}?access_token={google.access_token}"):
        pass
    async with http.get(url, headers={"Authorization": f"Bearer {claude.refresh_token}"}):
        pass
    found = [(rec.origin, what) for rec, what in oauth_fakes.misplaced_secrets()]
    assert found == [
        ("https://www.googleapis.com", "claude:access_token"),
        ("https://www.googleapis.com", "google:access_token"),
        ("https://api.anthropic.com", "claude:refresh_token"),
    ]
    log_text = f"refreshed account, token={google.refresh_token[:12]}..."
    assert oauth_fakes.leaked_in(log_text) == []
    assert oauth_fakes.leaked_in(f"Authorization: Bearer {google.access_token}") == [
        "google:access_token"
    ]


async def test_reset_forgets_requests_and_faults(oauth_fakes, http):
    account = oauth_fakes.codex.signed_in
    oauth_fakes.codex.usage_limit(account)
    async with http.get(oauth_fakes.url("https://chatgpt.com/x")):
        pass
    oauth_fakes.reset()
    assert oauth_fakes.log.entries == [] and account.faults == []


async def test_two_harnesses_side_by_side():
    async with OAuthFakes() as one, OAuthFakes() as two:
        assert set(one.overrides.values()).isdisjoint(two.overrides.values())
