"""The Gemini CLI provider's hooks against the Google fake (oauth-providers.md §7)."""

from __future__ import annotations

import time
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from services.proxy.oauth.provider import RefreshRejected
from services.proxy.oauth.providers.gemini import PROVIDER
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


async def login(session, http, project_id=""):
    auth = PROVIDER.authorize("gem-123")
    auth = replace(auth, extra={"project_id": project_id})
    async with session.get(auth.url, allow_redirects=False) as resp:
        location = resp.headers["Location"]
    assert location.startswith("http://localhost:8085/oauth2callback?")
    code = parse_qs(urlsplit(location).query)["code"][0]
    return await PROVIDER.exchange(http, auth, code, "gem-123")


async def test_login_takes_the_first_project(oauth_fakes, session, oauth_http):
    oauth_fakes.google.add_account("g@gmail.test", project="p1", projects=["p1", "p2"])
    new = await login(session, oauth_http)
    assert new.name == "gemini-g@gmail.test-p1.json"
    data = new.data
    assert (data["type"], data["project_id"], data["auto"], data["checked"]) == (
        "gemini",
        "p1",
        True,
        True,
    )
    token = data["token"]
    assert token["access_token"] and token["refresh_token"] and token["expiry"]
    assert token["client_id"].startswith("681255809395") and token["token_uri"]
    assert PROVIDER.tokens(data).expires_at > time.time() + 3000


async def test_login_all_projects_enables_the_api(oauth_fakes, session, oauth_http):
    acct = oauth_fakes.google.add_account(
        "all@gmail.test", project="p1", projects=["p1", "p2"], enabled_services={"p1"}
    )
    new = await login(session, oauth_http, "ALL")
    assert new.name == "gemini-all@gmail.test-all.json"
    assert new.data["project_id"] == "p1,p2"
    assert "p2" in acct.enabled_services
    enables = oauth_fakes.log.select(origin="https://serviceusage.googleapis.com")
    assert [r.path for r in enables if r.method == "POST"] == [
        "/v1/projects/p2/services/cloudaicompanion.googleapis.com:enable"
    ]


async def test_login_without_projects_onboards(oauth_fakes, session, oauth_http):
    oauth_fakes.google.add_account("one@gmail.test", project=None, projects=[])
    new = await login(session, oauth_http, "GOOGLE_ONE")
    assert new.data["project_id"].startswith("gen-lang-client-")


async def test_free_tier_uses_the_project_google_assigns(oauth_fakes, session, oauth_http):
    oauth_fakes.google.add_account("x@gmail.test", project="p1", projects=["p1"])
    # §7.1: on a free tier the server's project wins over the one asked for.
    new = await login(session, oauth_http, "someone-elses")
    assert new.data["project_id"] == "p1" and new.data["auto"] is False


def seeded(fakes, projects=("p1",)):
    acct = fakes.google.add_account("s@gmail.test", project=projects[0], projects=list(projects))
    issued = fakes.google.issue(acct, "gemini")
    data = {
        "type": "gemini",
        "token": {
            "access_token": issued.access_token,
            "refresh_token": issued.refresh_token,
            "token_type": "Bearer",
            "expiry": "2030-01-01T00:00:00Z",
        },
        "project_id": ",".join(projects),
        "email": "s@gmail.test",
    }
    return acct, issued, account("gemini-s@gmail.test-p1.json", data)


async def test_refresh_merges_into_the_token_object(oauth_fakes, oauth_http):
    acct, issued, file = seeded(oauth_fakes)
    done = await PROVIDER.refresh(oauth_http, file)
    token = done.updates["token"]
    assert token["access_token"] != issued.access_token
    assert token["refresh_token"] == issued.refresh_token  # Google keeps the refresh token
    assert done.tokens.refresh_token == issued.refresh_token
    assert oauth_fakes.log.select(kind="refresh")[-1].body["client_id"].startswith("681255809395")
    oauth_fakes.google.revoke(acct)
    with pytest.raises(RefreshRejected):
        await PROVIDER.refresh(oauth_http, file)


def test_one_credential_per_project(oauth_fakes):
    _, _, file = seeded(oauth_fakes, projects=("p1", "p2"))
    ups = PROVIDER.upstream(file)
    assert [u.key for u in ups] == ["p1", "p2"]
    assert ups[0].label == "s@gmail.test (p1)"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("client_fmt", FORMATS)
async def test_every_client_format_is_served(oauth_fakes, session, client_fmt, stream):
    _, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    cred = credential(PROVIDER, up, issued.access_token)
    oauth_fakes.google.push(Reply(text="Hello from Gemini CLI."))
    body = client_body(client_fmt, "gemini-2.5-pro")
    answer = await send(session, cred, client_fmt, body, model="gemini-2.5-pro", stream=stream)
    assert answer.status == 200, answer.body
    assert answer_text(client_fmt, answer, stream) == "Hello from Gemini CLI."
    assert answer.sent["project"] == "p1" and answer.sent["model"] == "gemini-2.5-pro"
    assert "userAgent" not in answer.sent
    rec = oauth_fakes.log.select(kind="inference")[-1]
    assert rec.origin == "https://cloudcode-pa.googleapis.com"
    assert rec.headers["User-Agent"].startswith("GeminiCLI/0.31.0/gemini-2.5-pro ")
    assert rec.headers["X-Goog-Api-Client"].startswith("google-genai-sdk/")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("client_fmt", FORMATS)
async def test_tools_and_thinking(oauth_fakes, session, client_fmt, stream):
    _, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    cred = credential(PROVIDER, up, issued.access_token)
    oauth_fakes.google.push(Reply(text="", tool=("get_weather", {"city": "Oslo"}), thinking="hm"))
    model = "gemini-2.5-pro(4096)"
    answer = await send(
        session,
        cred,
        client_fmt,
        client_body(client_fmt, model, tools=True),
        model=model,
        stream=stream,
    )
    assert answer.status == 200, answer.body
    assert answer_tool(client_fmt, answer, stream) == "get_weather"
    thinking = answer.sent["request"]["generationConfig"]["thinkingConfig"]
    assert thinking["thinkingBudget"] == 4096


async def test_service_disabled_is_not_a_cooldown_hint(oauth_fakes, session):
    acct, issued, file = seeded(oauth_fakes)
    acct.enabled_services.clear()
    (up,) = PROVIDER.upstream(file)
    cred = credential(PROVIDER, up, issued.access_token)
    body = client_body("openai", "gemini-2.5-pro")
    answer = await send(session, cred, "openai", body, model="gemini-2.5-pro", stream=False)
    assert answer.status == 403
    assert up.adapter.failure(403, {}, answer.body) is None  # the generic 403 rule applies


async def test_quota_exhausted(oauth_fakes, session, oauth_http):
    acct, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    cred = credential(PROVIDER, up, issued.access_token)
    oauth_fakes.google.rate_limit(acct, "QUOTA_EXHAUSTED", delay=900)
    body = client_body("anthropic", "gemini-2.5-pro")
    answer = await send(session, cred, "anthropic", body, model="gemini-2.5-pro", stream=True)
    hint = up.adapter.failure(answer.status, {}, answer.body)
    assert hint is not None and hint.retry_after == 900
    report = await PROVIDER.quota(oauth_http, file, issued.access_token)
    assert any(w.id == "gemini-2.5-pro" for w in report.windows)


async def test_quota_reads_the_cli_buckets_of_the_project(oauth_fakes, oauth_http):
    acct, issued, file = seeded(oauth_fakes)
    oauth_fakes.google.set_model_quota(acct, "gemini-2.5-pro", 0.3, 600)
    report = await PROVIDER.quota(oauth_http, file, issued.access_token)
    windows = {w.id: w for w in report.windows}
    assert windows["model:gemini-2.5-pro"].used_percent == 70.0
    assert windows["gemini-2.5-pro"].resets_at
    (rec,) = oauth_fakes.log.select(kind="quota")
    assert rec.path == "/v1internal:retrieveUserQuota" and rec.body == {"project": "p1"}
    assert rec.origin == "https://cloudcode-pa.googleapis.com"


async def test_quota_falls_back_to_the_dashboard_call(oauth_fakes, oauth_http):
    _, issued, file = seeded(oauth_fakes)
    file = account(file.name, {**file.data, "project_id": "not-mine"})
    report = await PROVIDER.quota(oauth_http, file, issued.access_token)
    assert report.windows
    paths = [r.path for r in oauth_fakes.log.select(kind="quota")]
    assert paths == ["/v1internal:retrieveUserQuota", "/v1internal:fetchAvailableModels"]
