"""The Antigravity provider's hooks against the Google fake (oauth-providers.md §4)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from services.proxy.oauth.provider import QuotaFailed, RefreshFailed, RefreshRejected
from services.proxy.oauth.providers import antigravity
from services.proxy.oauth.providers.antigravity import PROVIDER
from tests.fakes.wire_base import Reply
from tests.unit.proxy.oauth.conftest import (
    account,
    answer_text,
    answer_tool,
    client_body,
    credential,
    send,
)

FORMATS = ("openai", "responses", "anthropic", "gemini")


@pytest.fixture(autouse=True)
def quick_onboarding(monkeypatch):
    monkeypatch.setattr(PROVIDER, "onboard_pause", 0.0)


async def login(session, http, state="a" * 32):
    auth = PROVIDER.authorize(state)
    query = {k: v[0] for k, v in parse_qs(urlsplit(auth.url).query).items()}
    assert query["access_type"] == "offline" and "code_challenge" not in query
    async with session.get(auth.url, allow_redirects=False) as resp:
        location = resp.headers["Location"]
    assert location.startswith("http://localhost:51121/oauth-callback?")
    code = parse_qs(urlsplit(location).query)["code"][0]
    return await PROVIDER.exchange(http, auth, code, state)


async def test_login_with_an_existing_project(oauth_fakes, session, oauth_http):
    acct = oauth_fakes.google.add_account("ag@gmail.test", project="proj-1")
    new = await login(session, oauth_http)
    assert new.name == "antigravity-ag@gmail.test.json"
    data = new.data
    assert (data["type"], data["email"], data["project_id"]) == (
        "antigravity",
        acct.email,
        "proj-1",
    )
    assert data["access_token"] and data["refresh_token"] and data["expires_in"] == 3599
    assert abs(data["timestamp"] / 1000 - time.time()) < 60
    assert PROVIDER.tokens(data).expires_at > time.time() + 3000
    assert oauth_fakes.log.count(kind="setup", path="/v1internal:onboardUser") == 0


async def test_login_onboards_an_account_without_a_project(oauth_fakes, session, oauth_http):
    oauth_fakes.google.add_account("new@gmail.test", project=None, onboarding_polls=2)
    new = await login(session, oauth_http)
    assert new.data["project_id"].startswith("gen-lang-client-")
    onboard = oauth_fakes.log.select(path="/v1internal:onboardUser")
    assert len(onboard) == 3 and onboard[0].origin == "https://daily-cloudcode-pa.googleapis.com"
    assert onboard[0].body["tier_id"] == "free-tier"


async def test_denied_consent_fails_without_a_file(oauth_fakes, session, oauth_http):
    oauth_fakes.google.add_account("x@gmail.test")
    oauth_fakes.google.consent = "deny"
    auth = PROVIDER.authorize("s")
    async with session.get(auth.url, allow_redirects=False) as resp:
        location = resp.headers["Location"]
    assert "error=access_denied" in location


def seeded(fakes, email="a@gmail.test", project="proj-a"):
    acct = fakes.google.add_account(email, project=project)
    issued = fakes.google.issue(acct, "antigravity")
    data = {
        "type": "antigravity",
        "access_token": issued.access_token,
        "refresh_token": issued.refresh_token,
        "expires_in": 3599,
        "timestamp": int(time.time() * 1000),
        "expired": "2030-01-01T00:00:00Z",
        "email": email,
        "project_id": project or "",
    }
    return acct, issued, account(f"antigravity-{email}.json", data)


async def test_refresh_keeps_the_refresh_token(oauth_fakes, oauth_http):
    _, issued, file = seeded(oauth_fakes)
    done = await PROVIDER.refresh(oauth_http, file)
    assert done.tokens.access_token != issued.access_token
    assert done.tokens.refresh_token == issued.refresh_token
    assert done.updates["refresh_token"] == issued.refresh_token
    assert "project_id" not in done.updates
    rec = oauth_fakes.log.select(kind="refresh")[-1]
    assert rec.body["client_secret"] and rec.headers["User-Agent"] == "Go-http-client/2.0"


async def test_refresh_finds_a_missing_project(oauth_fakes, oauth_http):
    _, _, file = seeded(oauth_fakes, project="proj-z")
    file = account(file.name, {**file.data, "project_id": ""})
    done = await PROVIDER.refresh(oauth_http, file)
    assert done.updates["project_id"] == "proj-z"


async def test_refresh_failures(oauth_fakes, oauth_http):
    acct, _, file = seeded(oauth_fakes)
    oauth_fakes.google.fail_refresh(acct, "rate_limited", retry_after=17)
    with pytest.raises(RefreshFailed) as limited:
        await PROVIDER.refresh(oauth_http, file)
    assert limited.value.retry_after == 17
    oauth_fakes.google.revoke(acct)
    with pytest.raises(RefreshRejected):
        await PROVIDER.refresh(oauth_http, file)


def test_info_lead_times():
    assert PROVIDER.info.refresh_before_use == 3000.0 and PROVIDER.info.refresh_lead == 300.0


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("client_fmt", FORMATS)
async def test_every_client_format_is_served(oauth_fakes, session, client_fmt, stream):
    _, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    assert up.base_url == "https://daily-cloudcode-pa.googleapis.com"
    cred = credential(PROVIDER, up, issued.access_token)
    oauth_fakes.google.push(Reply(text="Hello from Antigravity."))
    body = client_body(client_fmt, "gemini-3-flash")
    answer = await send(session, cred, client_fmt, body, model="gemini-3-flash", stream=stream)
    assert answer.status == 200, answer.body
    assert answer_text(client_fmt, answer, stream) == "Hello from Antigravity."
    sent = answer.sent
    assert (sent["userAgent"], sent["requestType"], sent["project"]) == (
        "antigravity",
        "agent",
        "proj-a",
    )
    assert sent["requestId"].startswith("agent-") and sent["model"] == "gemini-3-flash"
    assert sent["request"]["sessionId"].startswith("-")
    rec = oauth_fakes.log.select(kind="inference")[-1]
    assert rec.headers["User-Agent"].startswith("antigravity/hub/")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("client_fmt", FORMATS)
async def test_tools_and_thinking(oauth_fakes, session, client_fmt, stream):
    _, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    cred = credential(PROVIDER, up, issued.access_token)
    oauth_fakes.google.push(Reply(text="", tool=("get_weather", {"city": "Oslo"}), thinking="hm"))
    model = "claude-sonnet-4-6(8192)"
    body = client_body(client_fmt, model, tools=True)
    answer = await send(session, cred, client_fmt, body, model=model, stream=stream)
    assert answer.status == 200, answer.body
    assert answer_tool(client_fmt, answer, stream) == "get_weather"
    request = answer.sent["request"]
    assert answer.sent["model"] == "claude-sonnet-4-6"
    assert request["toolConfig"]["functionCallingConfig"]["mode"] == "VALIDATED"
    assert request["generationConfig"]["thinkingConfig"]
    assert request["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"


def test_session_id_is_stable_per_conversation():
    adapter = antigravity.AntigravityAdapter("https://x", "p")
    one = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    two = {"contents": [*one["contents"], {"role": "model", "parts": [{"text": "hi"}]}]}
    assert (
        adapter.envelope("m", one)["request"]["sessionId"]
        == adapter.envelope("m", two)["request"]["sessionId"]
    )
    assert "safetySettings" not in adapter.envelope("m", {**one, "safetySettings": []})["request"]


async def test_quota_exhausted_cools_the_model_until_reset(oauth_fakes, session):
    acct, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    cred = credential(PROVIDER, up, issued.access_token)
    oauth_fakes.google.rate_limit(acct, "QUOTA_EXHAUSTED", delay=5400)
    body = client_body("openai", "gemini-3-flash")
    answer = await send(session, cred, "openai", body, model="gemini-3-flash", stream=False)
    assert answer.status == 429
    hint = up.adapter.failure(429, {}, answer.body)
    assert hint is not None and hint.retry_after == 5400 and not hint.credential_wide


async def test_short_rate_limit_rests_briefly(oauth_fakes, session):
    acct, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    cred = credential(PROVIDER, up, issued.access_token)
    oauth_fakes.google.rate_limit(acct, "RATE_LIMIT_EXCEEDED", delay=2.5, times=1)
    body = client_body("gemini", "gemini-3-flash")
    answer = await send(session, cred, "gemini", body, model="gemini-3-flash", stream=True)
    hint = up.adapter.failure(answer.status, {}, answer.body)
    assert hint is not None and hint.retry_after == 2.5 and hint.reason == "rate limited"


async def test_count_tokens(oauth_fakes, session):
    _, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    headers = {**up.headers, "Authorization": f"Bearer {issued.access_token}"}
    body = {"contents": [{"role": "user", "parts": [{"text": "count me please"}]}]}
    built = up.adapter.count_request(body, headers, {})
    assert built is not None
    async with session.post(built.url, data=built.body, headers=built.headers) as resp:
        assert resp.status == 200
        assert (await resp.json())["totalTokens"] > 0


async def test_quota_groups_models(oauth_fakes, oauth_http):
    acct, issued, file = seeded(oauth_fakes)
    oauth_fakes.google.set_model_quota(acct, "claude-sonnet-4-6", 0.25, 600)
    report = await PROVIDER.quota(oauth_http, file, issued.access_token)
    windows = {w.id: w for w in report.windows}
    assert windows["claude-gpt"].used_percent == 75.0 and windows["claude-gpt"].resets_at
    assert windows["gemini-3-flash"].used_percent == 0.0
    assert windows["model:claude-sonnet-4-6"].label == "claude-sonnet-4-6"
    rec = oauth_fakes.log.select(kind="quota")[-1]
    assert rec.origin == "https://daily-cloudcode-pa.googleapis.com"
    with pytest.raises(QuotaFailed):
        await PROVIDER.quota(oauth_http, file, "bad")
