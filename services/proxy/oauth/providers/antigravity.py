"""Google Antigravity subscriptions (oauth-providers.md §4, docs/oauth.md).

Login: Google authorization code with the Antigravity client's (public) secret and no PKCE;
then userinfo for the e-mail and Code Assist project discovery (loadCodeAssist, else
onboardUser until done). Inference: Code Assist's `v1internal` methods with the Antigravity
envelope (`userAgent`, `requestType`, `requestId`, `sessionId`), answers wrapped in
`{response: ...}`. Google's 429s name a retry delay per model. Quota: fetchAvailableModels.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import orjson
from yarl import URL

from ...routing.upstream_adapter import FailureHint, StreamProcessor, UpstreamRequest
from ...translate import parse_model_suffix
from ..auth_files import safe_name
from ..http import OAuthHttp
from ..provider import (
    Account,
    Authorization,
    LoginError,
    NewAccount,
    OAuthProvider,
    ProviderInfo,
    QuotaReport,
    Refreshed,
    Upstream,
    rfc3339,
)
from . import code_assist as ca
from .common import number, text

AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
USERINFO_URL = "https://www.googleapis.com/oauth2/v2/userinfo?alt=json"
REDIRECT_URI = "http://localhost:51121/oauth-callback"
CLIENT = ca.GoogleClient(
    "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com",
    "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",  # shipped in the public client
)
SCOPES = tuple(
    ca.SCOPE + s
    for s in (
        "cloud-platform",
        "userinfo.email",
        "userinfo.profile",
        "cclog",
        "experimentsandconfigs",
    )
)
VERSION = "2.9.1"  # §4.1: the reference's fallback when the update manifest is unreachable
USER_AGENT = f"antigravity/hub/{VERSION} darwin/arm64"
ONBOARD_UA = f"{USER_AGENT} google-api-nodejs-client/10.3.0"
QUOTA_UA = "antigravity/1.11.5 windows/amd64"  # §4.5: the dashboard's quota call
REFRESH_UA = "Go-http-client/2.0"
MODELS = (
    "claude-opus-4-6-thinking",
    "claude-sonnet-4-6",
    "gemini-3.6-flash-high",
    "gemini-3.7-flash-high",
    "gemini-3-flash",
    "gemini-3-flash-agent",
    "gemini-3.1-flash-image",
    "gemini-pro-agent",
    "gemini-3.1-pro-low",
    "gpt-oss-120b-medium",
    "gemini-3.1-flash-lite",
    "gemini-3.5-flash-low",
    "gemini-3.5-flash-extra-low",
)


def session_id(request: Mapping[str, Any]) -> str:
    """A stable negative decimal from the first user text, so one conversation keeps one
    session upstream (§4.4)."""
    first = ""
    contents = request.get("contents")
    for content in contents if isinstance(contents, list) else []:
        if isinstance(content, dict) and content.get("role", "user") == "user":
            parts = content.get("parts")
            first = next(
                (
                    p["text"]
                    for p in parts or []
                    if isinstance(p, dict) and isinstance(p.get("text"), str)
                ),
                "",
            )
            break
    digest = hashlib.sha256(first.encode()).digest()
    return str(-(int.from_bytes(digest[:8], "big") & 0x7FFFFFFFFFFFFFFF))


class AntigravityAdapter:
    """One Antigravity account's sending: envelope, unwrap, Google's 429 signals."""

    def __init__(self, base_url: str, project: str) -> None:
        self._base = base_url
        self._project = project

    def envelope(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        model = parse_model_suffix(model)[0]
        request = {k: v for k, v in body.items() if k not in ("safetySettings", "model")}
        if "claude" in model:
            tool_config = dict(request.get("toolConfig") or {})
            calling = dict(tool_config.get("functionCallingConfig") or {})
            calling["mode"] = "VALIDATED"
            tool_config["functionCallingConfig"] = calling
            request["toolConfig"] = tool_config
        elif isinstance(request.get("generationConfig"), dict):
            request["generationConfig"] = {
                k: v for k, v in request["generationConfig"].items() if k != "maxOutputTokens"
            }
        request["sessionId"] = session_id(request)
        return {
            "model": model,
            "userAgent": "antigravity",
            "requestType": "agent",
            "project": self._project,
            "requestId": ca.request_id(),
            "request": request,
        }

    def build(
        self,
        model: str,
        body: dict[str, Any],
        stream: bool,
        headers: dict[str, str],
        client_headers: Mapping[str, str],
    ) -> UpstreamRequest:
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = URL(f"{self._base}/v1internal:{action}")
        return UpstreamRequest(url, dict(headers), orjson.dumps(self.envelope(model, body)))

    def count_request(
        self, body: dict[str, Any], headers: dict[str, str], client_headers: Mapping[str, str]
    ) -> UpstreamRequest | None:
        inner = body.get("generateContentRequest")
        request = inner if isinstance(inner, dict) else body
        url = URL(f"{self._base}/v1internal:countTokens")
        payload = {"request": {"contents": request.get("contents", [])}}
        return UpstreamRequest(url, dict(headers), orjson.dumps(payload))

    def response(self, body: bytes) -> bytes:
        return ca.unwrap_body(body)

    def stream(self, inner: StreamProcessor) -> StreamProcessor:
        return ca.UnwrappingStream(inner)

    def failure(self, status: int, headers: Mapping[str, str], body: bytes) -> FailureHint | None:
        return ca.rate_limit_hint(status, body)


class Antigravity(OAuthProvider):
    info = ProviderInfo(
        type="antigravity",
        label="Antigravity",
        starter="antigravity",
        names=("antigravity", "anti-gravity"),
        flow="redirect",
        wire_format="gemini",
        callback_path="/antigravity/callback",
        redirect_uri=REDIRECT_URI,
        refresh_lead=300.0,
        refresh_before_use=3000.0,  # §4.3: the executor refreshes when < 50 min remain
        api_hosts=(
            "cloudcode-pa.googleapis.com",
            "daily-cloudcode-pa.googleapis.com",
            "daily-cloudcode-pa.sandbox.googleapis.com",
        ),
    )
    onboard_tries = 5
    onboard_pause = 2.0  # seconds between onboardUser polls (tests shorten it)

    # -- login -----------------------------------------------------------------------------

    def authorize(self, state: str) -> Authorization:
        params = {
            "client_id": CLIENT.client_id,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": " ".join(SCOPES),
            "state": state,
            "access_type": "offline",
            "prompt": "consent",
        }
        return Authorization(f"{AUTHORIZE_URL}?{urlencode(params)}", REDIRECT_URI)

    async def exchange(
        self, http: OAuthHttp, auth: Authorization, code: str, state: str
    ) -> NewAccount:
        answer = await ca.exchange_code(http, CLIENT, code, auth.redirect_uri)
        access = text(answer, "access_token")
        email = await ca.user_email(http, access, USERINFO_URL)
        # A failed discovery does not fail the login: the next refresh looks again.
        project = await self.discover_project(http, access)
        data = {
            "type": "antigravity",
            **_token_fields(answer, time.time()),
            "email": email,
            "project_id": project,
        }
        if not text(data, "refresh_token"):
            raise LoginError("Google returned no refresh token (offline access was not granted)")
        return NewAccount(safe_name("antigravity", email), data)

    async def discover_project(self, http: OAuthHttp, access: str) -> str:
        headers = {"Authorization": f"Bearer {access}", "Accept": "*/*", "User-Agent": USER_AGENT}
        load = await ca.call_json(
            http,
            f"{ca.PROD}/v1internal:loadCodeAssist",
            {"metadata": {"ideType": "ANTIGRAVITY"}},
            headers,
        )
        for key in ("cloudaicompanionProject", "projectId", "project"):
            project = ca.project_of(load.get(key))
            if project:
                return project
        body = {
            "tier_id": ca.default_tier(load, "free-tier"),
            "metadata": {
                "ide_type": "ANTIGRAVITY",
                "ide_version": VERSION,
                "ide_name": "antigravity",
            },
        }
        onboard_headers = {
            "Authorization": f"Bearer {access}",
            "User-Agent": ONBOARD_UA,
            "X-Goog-Api-Client": "gl-node/22.21.1",
        }
        url = f"{ca.DAILY}/v1internal:onboardUser"
        return await ca.onboard(
            http, url, body, onboard_headers, tries=self.onboard_tries, pause=self.onboard_pause
        )

    # -- tokens ----------------------------------------------------------------------------

    async def refresh(self, http: OAuthHttp, account: Account) -> Refreshed:
        answer = await ca.refresh_token(http, CLIENT, account.text("refresh_token"), REFRESH_UA)
        answer.setdefault("refresh_token", account.text("refresh_token"))
        updates: dict[str, Any] = {"type": "antigravity", **_token_fields(answer, time.time())}
        if not account.text("project_id"):
            project = await self.discover_project(http, updates["access_token"])
            if project:
                updates["project_id"] = project
        return Refreshed(self.tokens(updates), updates)

    # -- serving ---------------------------------------------------------------------------

    def upstream(self, account: Account) -> Sequence[Upstream]:
        base = (account.text("base_url") or ca.DAILY).rstrip("/")
        agent = account.text("user_agent") or USER_AGENT
        return [
            Upstream(
                base_url=base,
                headers={"User-Agent": agent},
                models=MODELS,
                adapter=AntigravityAdapter(base, account.text("project_id")),
                label=account.text("email") or account.name,
            )
        ]

    async def quota(self, http: OAuthHttp, account: Account, token: str) -> QuotaReport:
        url = f"{ca.DAILY}/v1internal:fetchAvailableModels"
        return await ca.available_models(http, token, url, QUOTA_UA)


def _token_fields(answer: Mapping[str, Any], now: float) -> dict[str, Any]:
    """§4.2's token fields: Google's `expires_in`, the issue time in ms, the RFC 3339 expiry."""
    expires_in = number(answer, "expires_in") or 3599.0
    return {
        "access_token": text(answer, "access_token"),
        "refresh_token": text(answer, "refresh_token"),
        "expires_in": int(expires_in),
        "timestamp": int(now * 1000),
        "expired": rfc3339(now + expires_in),
    }


PROVIDER = Antigravity()
