"""The Codex provider's hooks against the Codex fake (oauth-providers.md §3)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from services.proxy.oauth.provider import QuotaFailed, RefreshFailed, RefreshRejected
from services.proxy.oauth.providers.codex import PROVIDER, file_name, models_for
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


async def login(session, fakes, http):
    auth = PROVIDER.authorize("a" * 32)
    query = {k: v[0] for k, v in parse_qs(urlsplit(auth.url).query).items()}
    assert auth.url.startswith("https://auth.openai.com/oauth/authorize?")
    assert query["code_challenge_method"] == "S256" and query["state"] == "a" * 32
    assert query["redirect_uri"] == "http://localhost:1455/auth/callback"
    async with session.get(auth.url, allow_redirects=False) as resp:
        location = resp.headers["Location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    return await PROVIDER.exchange(http, auth, code, "a" * 32)


async def test_login_writes_the_reference_auth_file(oauth_fakes, session, oauth_http):
    acct = oauth_fakes.codex.add_account("dev@example.com", plan="plus")
    new = await login(session, oauth_fakes, oauth_http)
    assert new.name == file_name("dev@example.com", acct.id, "plus")
    assert new.name.startswith("codex-") and new.name.endswith("-dev@example.com-plus.json")
    data = new.data
    assert data["type"] == "codex" and data["email"] == "dev@example.com"
    assert data["account_id"] == acct.id
    assert data["access_token"] and data["refresh_token"] and data["id_token"]
    tokens = PROVIDER.tokens(data)
    assert tokens.expires_at > time.time() + 86400
    # PKCE was checked by the fake: a wrong verifier would have been invalid_grant.
    assert oauth_fakes.log.count(provider="codex", kind="exchange", status=200) == 1


async def test_exchange_with_a_used_code_fails_cleanly(oauth_fakes, session, oauth_http):
    oauth_fakes.codex.add_account("dev@example.com")
    auth = PROVIDER.authorize("s1")
    async with session.get(auth.url, allow_redirects=False) as resp:
        code = parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]
    await PROVIDER.exchange(oauth_http, auth, code, "s1")
    with pytest.raises(Exception, match="status 400") as caught:
        await PROVIDER.exchange(oauth_http, auth, code, "s1")
    assert code not in str(caught.value)


def seeded(fakes, plan="pro", email="a@example.com"):
    acct = fakes.codex.add_account(email, plan=plan)
    issued = fakes.codex.issue(acct)
    data = {
        "type": "codex",
        "id_token": issued.id_token,
        "access_token": issued.access_token,
        "refresh_token": issued.refresh_token,
        "account_id": acct.id,
        "email": email,
        "expired": "2030-01-01T00:00:00Z",
    }
    return acct, issued, account(f"codex-{email}-{plan}.json", data)


async def test_refresh_rotates_and_keeps_identity(oauth_fakes, oauth_http):
    acct, issued, file = seeded(oauth_fakes)
    done = await PROVIDER.refresh(oauth_http, file)
    assert done.tokens.access_token != issued.access_token
    assert done.tokens.refresh_token != issued.refresh_token
    assert done.updates["account_id"] == acct.id and done.updates["email"] == "a@example.com"
    assert set(done.updates) >= {"access_token", "refresh_token", "id_token", "expired"}
    refresh = oauth_fakes.log.select(provider="codex", kind="refresh")[-1]
    assert refresh.encoding == "form" and refresh.body["scope"] == "openid profile email"


async def test_refresh_failures_are_classified(oauth_fakes, oauth_http):
    acct, _, file = seeded(oauth_fakes)
    oauth_fakes.codex.fail_refresh(acct, "server_error")
    with pytest.raises(RefreshFailed) as failed:
        await PROVIDER.refresh(oauth_http, file)
    assert failed.value.retryable
    oauth_fakes.codex.fail_refresh(acct, "rate_limited", retry_after=42)
    with pytest.raises(RefreshFailed) as limited:
        await PROVIDER.refresh(oauth_http, file)
    assert not limited.value.retryable and limited.value.retry_after == 42
    await PROVIDER.refresh(oauth_http, file)  # rotates: the file's refresh token is now spent
    with pytest.raises(RefreshRejected):
        await PROVIDER.refresh(oauth_http, file)


async def test_revoked_account_is_rejected(oauth_fakes, oauth_http):
    acct, _, file = seeded(oauth_fakes)
    oauth_fakes.codex.revoke(acct)
    with pytest.raises(RefreshRejected):
        await PROVIDER.refresh(oauth_http, file)


def test_models_follow_the_plan():
    assert "gpt-5.3-codex-spark" in models_for("pro")
    assert "gpt-5.3-codex-spark" not in models_for("business")
    assert "gpt-5.4" not in models_for("free")
    assert models_for("something-new") == models_for("pro")


def test_upstream_headers_and_models(oauth_fakes):
    acct, _, file = seeded(oauth_fakes, plan="team")
    (up,) = PROVIDER.upstream(file)
    assert up.base_url == "https://chatgpt.com/backend-api/codex"
    assert up.headers["Chatgpt-Account-Id"] == acct.id
    assert up.headers["Originator"] == "codex-tui"
    assert "Authorization" not in up.headers
    assert up.models == models_for("team") and up.label == "a@example.com"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("client_fmt", FORMATS)
async def test_every_client_format_is_served(oauth_fakes, session, client_fmt, stream):
    _, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    cred = credential(PROVIDER, up, issued.access_token)
    oauth_fakes.codex.push(Reply(text="Hello from Codex."))
    body = client_body(client_fmt, "gpt-5.5")
    body["temperature"] = 0.2  # the backend refuses it: the provider leaves it out
    answer = await send(session, cred, client_fmt, body, model="gpt-5.5", stream=stream)
    assert answer.status == 200, answer.body
    assert answer_text(client_fmt, answer, stream) == "Hello from Codex."
    sent = answer.sent
    assert sent["stream"] is True and sent["store"] is False and "instructions" in sent
    assert "temperature" not in sent
    assert sent["include"] == ["reasoning.encrypted_content"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("client_fmt", FORMATS)
async def test_tool_calls_and_thinking(oauth_fakes, session, client_fmt, stream):
    _, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    cred = credential(PROVIDER, up, issued.access_token)
    oauth_fakes.codex.push(Reply(text="", tool=("get_weather", {"city": "Oslo"}), thinking="hm"))
    body = client_body(client_fmt, "gpt-5.5(high)", tools=True)
    answer = await send(session, cred, client_fmt, body, model="gpt-5.5(high)", stream=stream)
    assert answer.status == 200, answer.body
    assert answer_tool(client_fmt, answer, stream) == "get_weather"
    assert answer.sent["model"] == "gpt-5.5"
    assert answer.sent["reasoning"]["effort"] == "high"
    assert answer.sent["tools"][0]["name"] == "get_weather"


async def test_client_session_headers_pass_through(oauth_fakes, session):
    _, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    cred = credential(PROVIDER, up, issued.access_token)
    headers = {"Session_id": "s-123", "X-Codex-Turn-Metadata": "t", "X-Secret": "no"}
    body = client_body("responses", "gpt-5.5")
    answer = await send(
        session, cred, "responses", body, model="gpt-5.5", stream=True, client_headers=headers
    )
    assert answer.status == 200
    rec = oauth_fakes.log.select(provider="codex", kind="inference")[-1]
    assert rec.headers["Session_id"] == "s-123" and rec.headers["X-Codex-Turn-Metadata"] == "t"
    assert "X-Secret" not in rec.headers
    assert rec.headers["Authorization"] == f"Bearer {issued.access_token}"


async def test_usage_limit_cools_the_whole_account_until_reset(oauth_fakes, session):
    acct, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    cred = credential(PROVIDER, up, issued.access_token)
    oauth_fakes.codex.usage_limit(acct, resets_in=7200)
    body = client_body("openai", "gpt-5.5")
    answer = await send(session, cred, "openai", body, model="gpt-5.5", stream=False)
    assert answer.status == 429
    hint = up.adapter.failure(429, {}, answer.body)
    assert hint is not None and hint.credential_wide and hint.reason == "usage_limit_reached"
    assert 7190 < (hint.retry_after or 0) <= 7200


def test_other_429s_use_the_generic_backoff():
    (up,) = PROVIDER.upstream(account("c.json", {"account_id": "x"}))
    assert up.adapter.failure(429, {}, b'{"error":{"type":"rate_limit_exceeded"}}') is None
    assert up.adapter.failure(429, {}, b"not json") is None
    assert up.adapter.failure(500, {}, b"{}") is None


async def test_quota_windows(oauth_fakes, oauth_http):
    acct, issued, file = seeded(oauth_fakes, plan="plus")
    oauth_fakes.codex.set_usage(acct, "primary", 80, 600)
    report = await PROVIDER.quota(oauth_http, file, issued.access_token)
    assert report.plan == "plus"
    primary, secondary = report.windows
    assert (primary.id, primary.label, primary.used_percent) == ("primary", "5h Window", 80.0)
    assert primary.window_seconds == 18000 and primary.resets_at
    assert (secondary.id, secondary.label) == ("secondary", "168h Window")
    rec = oauth_fakes.log.select(provider="codex", kind="quota")[-1]
    assert rec.headers["Chatgpt-Account-Id"] == acct.id


async def test_quota_failure_names_the_status_only(oauth_fakes, oauth_http):
    _, issued, file = seeded(oauth_fakes)
    with pytest.raises(QuotaFailed, match="status 401") as failed:
        await PROVIDER.quota(oauth_http, file, "not-a-token")
    assert issued.access_token not in str(failed.value)
