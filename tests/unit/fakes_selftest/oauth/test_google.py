"""The Google fake for Antigravity (§4) and Gemini CLI (§7), driven as the reference says."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest

from tests.fakes.wire_base import Reply
from tests.unit.fakes_selftest.oauth.conftest import query_of, sse_events

S = "https://www.googleapis.com/auth/"
ANTIGRAVITY = {
    "client_id": "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com",
    "client_secret": "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",
    "redirect_uri": "http://localhost:51121/oauth-callback",
    "scope": " ".join(
        S + s
        for s in (
            "cloud-platform",
            "userinfo.email",
            "userinfo.profile",
            "cclog",
            "experimentsandconfigs",
        )
    ),
    "authorize": "https://accounts.google.com/o/oauth2/v2/auth",
}
GEMINI = {
    "client_id": "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
    "client_secret": "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",
    "redirect_uri": "http://localhost:8085/oauth2callback",
    "scope": " ".join(S + s for s in ("cloud-platform", "userinfo.email", "userinfo.profile")),
    "authorize": "https://accounts.google.com/o/oauth2/auth",
}
TOKEN_URL = "https://oauth2.googleapis.com/token"
CODE_ASSIST = "https://cloudcode-pa.googleapis.com/v1internal"
DAILY = "https://daily-cloudcode-pa.googleapis.com/v1internal"
CONTENTS = [{"role": "user", "parts": [{"text": "Hi"}]}]


async def login(http, fakes, client: dict, **extra: str) -> dict:
    params = {
        "client_id": client["client_id"],
        "redirect_uri": client["redirect_uri"],
        "response_type": "code",
        "scope": client["scope"],
        "access_type": "offline",
        "prompt": "consent",
        "state": "c" * 32,
        **extra,
    }
    async with http.get(
        fakes.url(f"{client['authorize']}?{urlencode(params)}"), allow_redirects=False
    ) as r:
        query = query_of(r.headers["Location"])
    assert query["state"] == "c" * 32
    form = {
        "code": query["code"],
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
        "redirect_uri": client["redirect_uri"],
        "grant_type": "authorization_code",
    }
    async with http.post(fakes.url(TOKEN_URL), data=form) as response:
        assert response.status == 200, await response.text()
        return await response.json()


def bearer(access: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access}", "User-Agent": "antigravity/hub/2.9.1 darwin/arm64"}


def antigravity_body(project: str, **change) -> dict:
    body = {
        "model": "gemini-3-flash",
        "userAgent": "antigravity",
        "requestType": "agent",
        "project": project,
        "requestId": "agent-1",
        "request": {"contents": CONTENTS, "sessionId": "-123"},
    }
    return {k: v for k, v in {**body, **change}.items() if v is not None}


async def test_antigravity_login_onboarding_inference_refresh(oauth_fakes, http):
    account = oauth_fakes.google.add_account("ag@example.com", project=None)
    tokens = await login(http, oauth_fakes, ANTIGRAVITY)
    assert tokens["access_token"].startswith("ya29.")
    assert "refresh_token" in tokens and tokens["expires_in"] == 3599
    auth = bearer(tokens["access_token"])

    async with http.get(
        oauth_fakes.url("https://www.googleapis.com/oauth2/v2/userinfo?alt=json"), headers=auth
    ) as r:
        assert (await r.json())["email"] == "ag@example.com"

    load = {"metadata": {"ideType": "ANTIGRAVITY"}}
    async with http.post(
        oauth_fakes.url(f"{CODE_ASSIST}:loadCodeAssist"), json=load, headers=auth
    ) as r:
        loaded = await r.json()
    assert "cloudaicompanionProject" not in loaded  # forces onboarding
    tier = next(t["id"] for t in loaded["allowedTiers"] if t["isDefault"])
    onboard = {"tier_id": tier, "metadata": {"ide_type": "ANTIGRAVITY", "ide_name": "antigravity"}}
    url = oauth_fakes.url(f"{DAILY}:onboardUser")
    async with http.post(url, json=onboard, headers=auth) as r:
        assert (await r.json())["done"] is False
    async with http.post(url, json=onboard, headers=auth) as r:
        operation = await r.json()
    assert operation["done"] is True
    project = operation["response"]["cloudaicompanionProject"]["id"]
    assert project == account.project

    async with http.post(
        oauth_fakes.url(f"{DAILY}:generateContent"), json=antigravity_body(project), headers=auth
    ) as r:
        answer = await r.json()
    assert "ag@example.com" in answer["response"]["candidates"][0]["content"]["parts"][0]["text"]

    form = {
        "client_id": ANTIGRAVITY["client_id"],
        "client_secret": ANTIGRAVITY["client_secret"],
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
    }
    async with http.post(oauth_fakes.url(TOKEN_URL), data=form) as r:
        renewed = await r.json()
    assert "refresh_token" not in renewed  # Google keeps the refresh token
    async with http.post(oauth_fakes.url(TOKEN_URL), data=form) as r:
        assert r.status == 200  # ... so it stays usable
    oauth_fakes.google.push(Reply(text="", tool=("read_file", {"path": "a.txt"})))
    async with http.post(
        oauth_fakes.url(f"{CODE_ASSIST}:streamGenerateContent?alt=sse"),
        json=antigravity_body(project),
        headers=bearer(renewed["access_token"]),
    ) as r:
        events = await sse_events(r)
    assert all(set(data) == {"response"} for _, data in events)
    last = events[-1][1]["response"]
    assert last["candidates"][0]["content"]["parts"][0]["functionCall"]["name"] == "read_file"
    assert last["candidates"][0]["finishReason"] == "STOP"


async def test_gemini_cli_project_setup(oauth_fakes, http):
    """projects list -> loadCodeAssist -> onboardUser -> serviceusage get/enable -> generate."""
    account = oauth_fakes.google.add_account(
        "g@example.com", projects=["my-proj"], enabled_services=set()
    )
    tokens = await login(http, oauth_fakes, GEMINI)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with http.get(
        oauth_fakes.url("https://cloudresourcemanager.googleapis.com/v1/projects"), headers=auth
    ) as r:
        projects = (await r.json())["projects"]
    assert [p["projectId"] for p in projects] == ["my-proj"]

    metadata = {
        "ideType": "IDE_UNSPECIFIED",
        "platform": "PLATFORM_UNSPECIFIED",
        "pluginType": "GEMINI",
    }
    load = {"metadata": metadata, "cloudaicompanionProject": "my-proj"}
    async with http.post(
        oauth_fakes.url(f"{CODE_ASSIST}:loadCodeAssist"), json=load, headers=auth
    ) as r:
        assert r.status == 200
    onboard = {"tierId": "free-tier", "metadata": metadata, "cloudaicompanionProject": "my-proj"}
    for done in (False, True):
        async with http.post(
            oauth_fakes.url(f"{CODE_ASSIST}:onboardUser"), json=onboard, headers=auth
        ) as r:
            operation = await r.json()
        assert operation["done"] is done
    assert operation["response"]["cloudaicompanionProject"]["id"] == "my-proj"

    body = {"model": "gemini-2.5-pro", "project": "my-proj", "request": {"contents": CONTENTS}}
    async with http.post(
        oauth_fakes.url(f"{CODE_ASSIST}:generateContent"), json=body, headers=auth
    ) as r:
        assert r.status == 403
        assert (await r.json())["error"]["details"][0]["reason"] == "SERVICE_DISABLED"

    service = "https://serviceusage.googleapis.com/v1/projects/my-proj/services/cloudaicompanion.googleapis.com"
    async with http.get(oauth_fakes.url(service), headers=auth) as r:
        assert (await r.json())["state"] == "DISABLED"
    async with http.post(oauth_fakes.url(f"{service}:enable"), json={}, headers=auth) as r:
        assert (await r.json())["response"]["service"]["state"] == "ENABLED"
    async with http.get(oauth_fakes.url(service), headers=auth) as r:
        assert (await r.json())["state"] == "ENABLED"

    async with http.post(
        oauth_fakes.url(f"{CODE_ASSIST}:generateContent"), json=body, headers=auth
    ) as r:
        assert r.status == 200
        assert "response" in await r.json()
    async with http.post(
        oauth_fakes.url(f"{CODE_ASSIST}:streamGenerateContent"), json=body, headers=auth
    ) as r:
        chunks = await r.json()  # without alt=sse: one JSON array
    assert all("response" in c for c in chunks)
    count = {"request": {"contents": CONTENTS}}
    async with http.post(
        oauth_fakes.url(f"{CODE_ASSIST}:countTokens"), json=count, headers=auth
    ) as r:
        assert (await r.json())["totalTokens"] > 0
    assert oauth_fakes.log.count(provider="gemini", account=account, kind="inference") == 4


class TestErrors:
    async def test_wrong_client_secret(self, oauth_fakes, http):
        tokens = oauth_fakes.google.issue(oauth_fakes.google.signed_in, "antigravity")
        form = {
            "client_id": ANTIGRAVITY["client_id"],
            "client_secret": "GOCSPX-wrong",
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
        }
        async with http.post(oauth_fakes.url(TOKEN_URL), data=form) as r:
            assert (r.status, (await r.json())["error"]) == (401, "invalid_client")

    async def test_client_secret_by_basic_auth(self, oauth_fakes, http):
        """RFC 6749 §2.3.1: the client may authenticate with HTTP Basic instead of the form."""
        tokens = oauth_fakes.google.issue(oauth_fakes.google.signed_in, "gemini")
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        pair = f"{GEMINI['client_id']}:{GEMINI['client_secret']}".encode()
        auth = {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        async with http.post(oauth_fakes.url(TOKEN_URL), data=form, headers=auth) as r:
            assert r.status == 200

    async def test_no_refresh_token_without_offline_access(self, oauth_fakes, http):
        tokens = await login(http, oauth_fakes, ANTIGRAVITY, access_type="online")
        assert "refresh_token" not in tokens

    async def test_wrong_redirect_uri(self, oauth_fakes, http):
        params = {**{k: v for k, v in GEMINI.items() if k in ("client_id", "scope")}}
        params |= {"redirect_uri": ANTIGRAVITY["redirect_uri"], "response_type": "code"}
        async with http.get(
            oauth_fakes.url(f"{GEMINI['authorize']}?{urlencode(params)}"), allow_redirects=False
        ) as r:
            assert r.status == 400

    @pytest.mark.parametrize("drop", ["requestId", "userAgent", "requestType"])
    async def test_antigravity_envelope_fields(self, oauth_fakes, http, drop):
        account = oauth_fakes.google.signed_in
        tokens = oauth_fakes.google.issue(account, "antigravity")
        body = antigravity_body(account.project, **{drop: None})
        async with http.post(
            oauth_fakes.url(f"{CODE_ASSIST}:generateContent"),
            json=body,
            headers=bearer(tokens.access_token),
        ) as r:
            assert r.status == 400
            assert (await r.json())["error"]["status"] == "INVALID_ARGUMENT"

    async def test_other_project_and_expired_token(self, oauth_fakes, http):
        account = oauth_fakes.google.signed_in
        tokens = oauth_fakes.google.issue(account, "antigravity")
        auth = bearer(tokens.access_token)
        url = oauth_fakes.url(f"{CODE_ASSIST}:generateContent")
        async with http.post(url, json=antigravity_body("someone-elses"), headers=auth) as r:
            assert r.status == 403
        oauth_fakes.google.expire_now(account)
        async with http.post(url, json=antigravity_body(account.project), headers=auth) as r:
            assert r.status == 401
            assert (await r.json())["error"]["status"] == "UNAUTHENTICATED"

    @pytest.mark.parametrize("reason", ["QUOTA_EXHAUSTED", "RATE_LIMIT_EXCEEDED"])
    async def test_resource_exhausted(self, oauth_fakes, http, reason):
        account = oauth_fakes.google.signed_in
        tokens = oauth_fakes.google.issue(account, "antigravity")
        oauth_fakes.google.rate_limit(account, reason=reason, delay=2.5)
        async with http.post(
            oauth_fakes.url(f"{DAILY}:generateContent"),
            json=antigravity_body(account.project),
            headers=bearer(tokens.access_token),
        ) as r:
            assert r.status == 429
            error = (await r.json())["error"]
        assert error["status"] == "RESOURCE_EXHAUSTED"
        details = {d["@type"].rsplit(".", 1)[1]: d for d in error["details"]}
        assert details["RetryInfo"]["retryDelay"] == "2.5s"
        assert details["ErrorInfo"]["reason"] == reason

    @pytest.mark.parametrize(
        ("kind", "status"), [("invalid_grant", 400), ("rate_limited", 429), ("server_error", 503)]
    )
    async def test_refresh_failures(self, oauth_fakes, http, kind, status):
        account = oauth_fakes.google.signed_in
        tokens = oauth_fakes.google.issue(account, "gemini")
        oauth_fakes.google.fail_refresh(account, kind, retry_after=4)
        form = {
            "client_id": GEMINI["client_id"],
            "client_secret": GEMINI["client_secret"],
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
        }
        async with http.post(oauth_fakes.url(TOKEN_URL), data=form) as r:
            assert r.status == status
            body = await r.json()
        if kind == "rate_limited":
            assert body["error"]["details"][1]["retryDelay"] == "4s"
        elif kind == "invalid_grant":
            assert body == {
                "error": "invalid_grant",
                "error_description": "Token has been expired or revoked.",
            }


async def test_fetch_available_models(oauth_fakes, http):
    account = oauth_fakes.google.signed_in
    tokens = oauth_fakes.google.issue(account, "antigravity")
    oauth_fakes.google.set_model_quota(account, "claude-sonnet-4-6", 0.25, 600)
    headers = {**bearer(tokens.access_token), "User-Agent": "antigravity/1.11.5 windows/amd64"}
    async with http.post(
        oauth_fakes.url(f"{DAILY}:fetchAvailableModels"), json={}, headers=headers
    ) as r:
        models = (await r.json())["models"]
    info = models["claude-sonnet-4-6"]["quotaInfo"]
    assert info["remainingFraction"] == 0.25
    assert info["resetTime"].endswith("Z")
    assert models["gemini-3-flash"]["quotaInfo"]["remainingFraction"] == 1.0
