"""Gemini CLI / Gemini Code Assist subscriptions, auth-file type `gemini` (oauth-providers.md §7;
removed from CLIProxyAPI v7.2.20, kept here for the dashboard's users; docs/oauth.md).

Login: Google authorization code with the Gemini CLI client's (public) secret; then userinfo,
the Code Assist project (one named, the first listed, every listed one for `ALL`, or the one
onboarding assigns for `GOOGLE_ONE`), onboarding, and the Cloud AI Companion API enabled on
it. The token sits in a nested `token` object as Go's oauth2 library writes it. Inference: Code
Assist's `v1internal` methods with the `{project, model, request}` envelope; a comma-separated
`project_id` makes one credential per project, sharing the token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import orjson
from yarl import URL

from ...routing.upstream_adapter import FailureHint, StreamProcessor, UpstreamRequest
from ...translate import parse_model_suffix
from ..auth_files import safe_name
from ..http import OAuthHttp, TransportError
from ..provider import (
    Account,
    Authorization,
    LoginError,
    NewAccount,
    OAuthProvider,
    ProviderInfo,
    QuotaReport,
    Refreshed,
    Tokens,
    Upstream,
    parse_time,
    rfc3339,
)
from . import code_assist as ca
from .common import number, text

AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/auth"
USERINFO_URL = "https://www.googleapis.com/oauth2/v1/userinfo?alt=json"
PROJECTS_URL = "https://cloudresourcemanager.googleapis.com/v1/projects"
SERVICE_URL = (
    "https://serviceusage.googleapis.com/v1/projects/{}/services/cloudaicompanion.googleapis.com"
)
REDIRECT_URI = "http://localhost:8085/oauth2callback"
CLIENT = ca.GoogleClient(
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
    "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",  # shipped in the public client
)
SCOPES = tuple(ca.SCOPE + s for s in ("cloud-platform", "userinfo.email", "userinfo.profile"))
CLI_VERSION = "0.31.0"
API_CLIENT = "google-genai-sdk/1.41.0 gl-node/v22.19.0"
METADATA = {
    "ideType": "IDE_UNSPECIFIED",
    "platform": "PLATFORM_UNSPECIFIED",
    "pluginType": "GEMINI",
}
MODELS = (
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3.1-pro-preview",
    "gemini-3-flash-preview",
    "gemini-3.1-flash-lite-preview",
)
QUOTA_UA = "antigravity/1.11.5 windows/amd64"  # §7.5: the dashboard reuses Antigravity's call


def user_agent(model: str) -> str:
    return f"GeminiCLI/{CLI_VERSION}/{model} (darwin; arm64)"


def projects_of(data: Mapping[str, Any]) -> list[str]:
    raw = data.get("project_id")
    if not isinstance(raw, str):
        return []
    return [p.strip() for p in raw.split(",") if p.strip()]


class GeminiAdapter:
    """One Code Assist project of a Gemini CLI account."""

    def __init__(self, base_url: str, project: str) -> None:
        self._base = base_url
        self._project = project

    def build(
        self,
        model: str,
        body: dict[str, Any],
        stream: bool,
        headers: dict[str, str],
        client_headers: Mapping[str, str],
    ) -> UpstreamRequest:
        model = parse_model_suffix(model)[0]
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        request = {k: v for k, v in body.items() if k != "model"}
        envelope = {"model": model, "project": self._project, "request": request}
        sent = {**headers, "User-Agent": user_agent(model)}
        url = URL(f"{self._base}/v1internal:{action}")
        return UpstreamRequest(url, sent, orjson.dumps(envelope))

    def count_request(
        self, body: dict[str, Any], headers: dict[str, str], client_headers: Mapping[str, str]
    ) -> UpstreamRequest | None:
        inner = body.get("generateContentRequest")
        request = inner if isinstance(inner, dict) else body
        payload = {"request": {"contents": request.get("contents", [])}}  # no project, no model
        url = URL(f"{self._base}/v1internal:countTokens")
        return UpstreamRequest(url, dict(headers), orjson.dumps(payload))

    def response(self, body: bytes) -> bytes:
        return ca.unwrap_body(body)

    def stream(self, inner: StreamProcessor) -> StreamProcessor:
        return ca.UnwrappingStream(inner)

    def failure(self, status: int, headers: Mapping[str, str], body: bytes) -> FailureHint | None:
        return ca.rate_limit_hint(status, body)


class Gemini(OAuthProvider):
    info = ProviderInfo(
        type="gemini",
        label="Gemini CLI",
        starter="gemini-cli",
        names=("gemini", "gemini-cli"),
        flow="redirect",
        wire_format="gemini",
        callback_path="/google/callback",
        redirect_uri=REDIRECT_URI,
        channel="gemini-cli",
        refresh_lead=300.0,
        refresh_before_use=60.0,
        api_hosts=("cloudcode-pa.googleapis.com", "daily-cloudcode-pa.googleapis.com"),
        state_prefix="gem-",
    )
    onboard_tries = 6
    onboard_pause = 5.0  # seconds between onboardUser polls (tests shorten it)

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
        """`auth.extra["project_id"]`: the starter's `project_id` ("" = the first project,
        `ALL` = every project, `GOOGLE_ONE` = the one onboarding assigns, else that one)."""
        answer = await ca.exchange_code(http, CLIENT, code, auth.redirect_uri)
        access = text(answer, "access_token")
        if not text(answer, "refresh_token"):
            raise LoginError("Google returned no refresh token (offline access was not granted)")
        email = await ca.user_email(http, access, USERINFO_URL)
        wanted = auth.extra.get("project_id", "").strip()
        projects, auto = await self._projects(http, access, wanted)
        ready = [
            p for p in await asyncio.gather(*(self.set_up(http, access, p) for p in projects)) if p
        ]
        if not ready:
            raise LoginError("No Gemini Code Assist project could be set up for this account")
        data = {
            "type": "gemini",
            "token": token_object(answer, {}, time.time()),
            "project_id": ",".join(ready),
            "email": email,
            "auto": auto,
            "checked": True,
        }
        suffix = "all" if wanted.upper() == "ALL" or len(ready) > 1 else ready[0]
        return NewAccount(safe_name("gemini", email, suffix), data)

    async def _projects(self, http: OAuthHttp, access: str, wanted: str) -> tuple[list[str], bool]:
        if wanted.upper() == "GOOGLE_ONE":
            return [""], True
        if wanted and wanted.upper() != "ALL":
            return [wanted], False
        listed = await self._list_projects(http, access)
        if wanted.upper() == "ALL":
            return listed or [""], False
        return (listed[:1] or [""]), True

    async def _list_projects(self, http: OAuthHttp, access: str) -> list[str]:
        try:
            reply = await http.get(PROJECTS_URL, _bearer(access, MODELS[0]))
        except TransportError:
            return []
        found = reply.object().get("projects") if reply.ok else None
        return [
            text(p, "projectId")
            for p in found or []
            if isinstance(p, dict) and text(p, "projectId")
        ]

    async def set_up(self, http: OAuthHttp, access: str, project: str) -> str:
        """loadCodeAssist, onboardUser until done, the companion API enabled: the project that
        serves ("" when it cannot be set up)."""
        headers = _bearer(access, MODELS[0])
        body: dict[str, Any] = {"metadata": METADATA}
        if project:
            body["cloudaicompanionProject"] = project
        load = await ca.call_json(http, f"{ca.PROD}/v1internal:loadCodeAssist", body, headers)
        tier = ca.default_tier(load, "legacy-tier")
        onboard_body = {"tierId": tier, "metadata": METADATA}
        if project:
            onboard_body["cloudaicompanionProject"] = project
        assigned = await ca.onboard(
            http,
            f"{ca.PROD}/v1internal:onboardUser",
            onboard_body,
            headers,
            tries=self.onboard_tries,
            pause=self.onboard_pause if project else min(self.onboard_pause, 2.0),
        )
        # Free tiers work in the project Google assigns, whatever was asked (§7.1).
        free = tier.lower() in ("free-tier", "legacy-tier") or assigned.startswith(
            "gen-lang-client-"
        )
        chosen = assigned if (free and assigned) or not project else project
        if not chosen:
            return ""
        if chosen != project:
            return chosen  # a project Google assigned and manages: nothing for us to enable
        return chosen if await self._enable_api(http, headers, chosen) else ""

    async def _enable_api(self, http: OAuthHttp, headers: Mapping[str, str], project: str) -> bool:
        url = SERVICE_URL.format(project)
        try:
            state = await http.get(url, headers)
            if state.ok and state.object().get("state") == "ENABLED":
                return True
            enabled = await http.post_json(f"{url}:enable", {}, headers)
        except TransportError:
            return False
        return enabled.status in (200, 201) or (
            enabled.status == 400 and b"already enabled" in enabled.body.lower()
        )

    # -- tokens ----------------------------------------------------------------------------

    def tokens(self, data: Mapping[str, Any]) -> Tokens:
        token = data.get("token")
        token = token if isinstance(token, dict) else {}
        return Tokens(
            access_token=text(token, "access_token"),
            refresh_token=text(token, "refresh_token"),
            expires_at=parse_time(token.get("expiry")),
            last_refresh=parse_time(data.get("last_refresh")),
        )

    async def refresh(self, http: OAuthHttp, account: Account) -> Refreshed:
        old = account.data.get("token")
        old = old if isinstance(old, dict) else {}
        answer = await ca.refresh_token(http, CLIENT, text(old, "refresh_token"))
        now = time.time()
        updates = {"token": token_object(answer, old, now), "last_refresh": rfc3339(now)}
        return Refreshed(self.tokens(updates), updates)

    # -- serving ---------------------------------------------------------------------------

    def upstream(self, account: Account) -> Sequence[Upstream]:
        label = account.text("email") or account.name
        many = len(projects_of(account.data)) > 1
        return [
            Upstream(
                base_url=ca.PROD,
                headers={"X-Goog-Api-Client": API_CLIENT},
                models=MODELS,
                adapter=GeminiAdapter(ca.PROD, project),
                label=f"{label} ({project})" if many else label,
                key=project if many else "",
            )
            for project in projects_of(account.data)
        ]

    async def quota(self, http: OAuthHttp, account: Account, token: str) -> QuotaReport:
        """The Gemini CLI's own `retrieveUserQuota` for the account's (first) project, else
        the dashboard's `fetchAvailableModels` call."""
        projects = projects_of(account.data)
        if projects:
            url = f"{ca.PROD}/v1internal:retrieveUserQuota"
            report = await ca.user_quota(http, token, url, user_agent(MODELS[0]), projects[0])
            if report is not None:
                return report
        url = f"{ca.DAILY}/v1internal:fetchAvailableModels"
        return await ca.available_models(http, token, url, QUOTA_UA)


def token_object(answer: Mapping[str, Any], old: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The `token` object as Go's oauth2 library writes it, new values over the old ones."""
    expires_in = number(answer, "expires_in") or 3599.0
    return {
        **old,
        "access_token": text(answer, "access_token"),
        "token_type": text(answer, "token_type") or "Bearer",
        "refresh_token": text(answer, "refresh_token") or text(old, "refresh_token"),
        "expiry": rfc3339(now + expires_in),
        "token_uri": ca.TOKEN_URL,
        "client_id": CLIENT.client_id,
        "client_secret": CLIENT.client_secret,
        "scopes": list(SCOPES),
        "universe_domain": "googleapis.com",
    }


def _bearer(access: str, model: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access}", "User-Agent": user_agent(model)}


PROVIDER = Gemini()
