"""ChatGPT subscriptions through the Codex backend (oauth-providers.md §3, docs/oauth.md).

Login: authorization code with PKCE at auth.openai.com, form-encoded exchange; the `id_token`
names the account (`chatgpt_account_id`) and the plan. Inference: the Responses API at
chatgpt.com/backend-api/codex, which only streams (a non-stream call is sent with
`stream:true` and the whole SSE answer is read back as one response), wants `store:false`, an
`instructions` key and the `Chatgpt-Account-Id` header, and refuses token limits and sampling
fields. A 429 `usage_limit_reached` carries the reset time of the plan's window.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from yarl import URL

from ...routing.upstream_adapter import FailureHint, UpstreamRequest
from ..auth_files import safe_name
from ..http import OAuthHttp, TransportError
from ..provider import (
    Account,
    Authorization,
    LoginError,
    NewAccount,
    OAuthProvider,
    ProviderInfo,
    QuotaFailed,
    QuotaReport,
    QuotaWindow,
    Refreshed,
    Upstream,
    rfc3339,
)
from .common import (
    ACCEPT_JSON,
    authorization,
    expires_at,
    jwt_claims,
    refresh_answer,
    text,
    token_answer,
)
from .passthrough import PassThrough

AUTH = "https://auth.openai.com"
AUTHORIZE_URL = f"{AUTH}/oauth/authorize"
TOKEN_URL = f"{AUTH}/oauth/token"
CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
SCOPE = "openid email profile offline_access"
REFRESH_SCOPE = "openid profile email"
REDIRECT_URI = "http://localhost:1455/auth/callback"
BASE_URL = "https://chatgpt.com/backend-api/codex"
USAGE_URL = "https://chatgpt.com/backend-api/wham/usage"
AUTH_CLAIM = "https://api.openai.com/auth"
VERSION = "0.146.0"
USER_AGENT = f"codex-tui/{VERSION} (Mac OS 26.5.0; arm64) iTerm.app/3.6.10 (codex-tui; {VERSION})"

# §3.6: models by plan; an unknown plan gets the pro list, as the reference does.
_FULL = (
    "gpt-5.3-codex-spark",
    "gpt-5.4",
    "gpt-5.4-mini",
    "gpt-5.5",
    "gpt-5.6-sol",
    "gpt-5.6-terra",
    "gpt-5.6-luna",
    "codex-auto-review",
)
MODELS: dict[str, tuple[str, ...]] = {
    "pro": _FULL,
    "plus": _FULL,
    "team": tuple(m for m in _FULL if not m.endswith("spark")),
    "free": ("gpt-5.4-mini", "gpt-5.5", "gpt-5.6-terra", "gpt-5.6-luna", "codex-auto-review"),
}
_TEAM_LIKE = frozenset({"team", "business", "go", "enterprise", "edu"})

# Body fields the Codex backend refuses (or that make no sense without server-side storage).
_DROPPED = (
    "previous_response_id",
    "prompt_cache_retention",
    "safety_identifier",
    "stream_options",
    "generate",
    "max_output_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "service_tier",
)
# Client headers Codex CLI sends that the backend uses (session affinity, turn metadata).
_PASSED = (
    "Version",
    "Session_id",
    "Session-Id",
    "Thread-Id",
    "X-Codex-Turn-Metadata",
    "X-Client-Request-Id",
    "X-Codex-Window-Id",
    "X-Codex-Beta-Features",
)
_PLAN_CHARS = re.compile(r"[^a-z0-9]+")


def models_for(plan: str) -> tuple[str, ...]:
    plan = plan.lower()
    return MODELS.get("team" if plan in _TEAM_LIKE else plan, MODELS["pro"])


def identity(id_token: str) -> tuple[str, str, str]:
    """(email, chatgpt_account_id, plan) from the id_token's claims."""
    claims = jwt_claims(id_token)
    auth = claims.get(AUTH_CLAIM)
    auth = auth if isinstance(auth, dict) else {}
    return text(claims, "email"), text(auth, "chatgpt_account_id"), text(auth, "chatgpt_plan_type")


def file_name(email: str, account_id: str, plan: str) -> str:
    """codex-<first 8 hex of sha256(account_id)>-<email>-<plan>.json (§3.2)."""
    digest = hashlib.sha256(account_id.encode()).hexdigest()[:8] if account_id else ""
    plan = _PLAN_CHARS.sub("-", plan.lower()).strip("-")
    return safe_name("codex", digest, email, plan)


class CodexAdapter(PassThrough):
    """How one ChatGPT account's requests go to the Codex backend. A non-stream answer is
    the whole SSE stream, handed on as it is: the translator reads it up to
    `response.completed`."""

    def __init__(self, base_url: str) -> None:
        self._url = URL(base_url + "/responses")

    def build(
        self,
        model: str,
        body: dict[str, Any],
        stream: bool,
        headers: dict[str, str],
        client_headers: Mapping[str, str],
    ) -> UpstreamRequest:
        out = {k: v for k, v in body.items() if k not in _DROPPED}
        out["model"] = model
        out["stream"] = True  # the backend only streams; non-stream answers are read whole
        out["store"] = False
        if not isinstance(out.get("instructions"), str):
            out["instructions"] = ""
        include = out.get("include")
        include = [i for i in include if isinstance(i, str)] if isinstance(include, list) else []
        if "reasoning.encrypted_content" not in include:
            include.append("reasoning.encrypted_content")
        out["include"] = include
        if not out.get("tools"):
            out.pop("parallel_tool_calls", None)
            out.pop("tool_choice", None)
        sent = dict(headers)
        sent["Accept"] = "text/event-stream"
        for name in _PASSED:
            value = client_headers.get(name)
            if value:
                sent[name] = value
        if not any(k.lower() in ("session_id", "session-id") for k in sent):
            sent["Session_id"] = str(uuid.uuid4())
        return UpstreamRequest(self._url, sent, orjson.dumps(out))

    def failure(self, status: int, headers: Mapping[str, str], body: bytes) -> FailureHint | None:
        if status != 429:
            return None
        return usage_limit_hint(body, time.time())


def usage_limit_hint(body: bytes, now: float) -> FailureHint | None:
    """`{error:{type:"usage_limit_reached", resets_at | resets_in_seconds}}` (§3.4): the whole
    account rests until the plan's window resets; any other 429 uses the generic backoff."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict) or error.get("type") != "usage_limit_reached":
        return None
    seconds: float | None = None
    resets_at = error.get("resets_at")
    if isinstance(resets_at, int | float) and not isinstance(resets_at, bool):
        seconds = float(resets_at) - now
    resets_in = error.get("resets_in_seconds")
    if (seconds is None or seconds <= 0) and isinstance(resets_in, int | float):
        seconds = float(resets_in)
    retry = seconds if seconds is not None and seconds > 0 else None
    return FailureHint(retry, credential_wide=True, reason="usage_limit_reached")


def _window(wid: str, raw: Any) -> QuotaWindow | None:
    if not isinstance(raw, dict):
        return None
    used = raw.get("used_percent")
    seconds = raw.get("limit_window_seconds")
    reset = raw.get("reset_at")
    length = int(seconds) if isinstance(seconds, int | float) and seconds > 0 else None
    return QuotaWindow(
        id=wid,
        label=_window_label(length, wid),
        used_percent=float(used) if isinstance(used, int | float) else None,
        resets_at=rfc3339(float(reset)) if isinstance(reset, int | float) and reset > 0 else None,
        window_seconds=length,
    )


def _window_label(seconds: int | None, fallback: str) -> str:
    """ "5h Window", "168h Window", "30m Window" from the window's length (as the dashboard)."""
    if not seconds:
        return fallback.replace("_", " ").title()
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h Window"
    return f"{max(1, seconds // 60)}m Window"


@dataclass(frozen=True, slots=True)
class _Login:
    tokens: dict[str, Any]
    email: str
    account_id: str
    plan: str


class Codex(OAuthProvider):
    info = ProviderInfo(
        type="codex",
        label="Codex",
        starter="codex",
        names=("codex", "openai"),
        flow="redirect",
        wire_format="responses",
        callback_path="/codex/callback",
        redirect_uri=REDIRECT_URI,
        refresh_lead=5 * 86400.0,
        api_hosts=("chatgpt.com",),
    )

    # -- login -----------------------------------------------------------------------------

    def authorize(self, state: str) -> Authorization:
        extra = {
            "prompt": "login",
            "id_token_add_organizations": "true",
            "codex_cli_simplified_flow": "true",
        }
        return authorization(AUTHORIZE_URL, CLIENT_ID, REDIRECT_URI, SCOPE, state, extra=extra)

    async def exchange(
        self, http: OAuthHttp, auth: Authorization, code: str, state: str
    ) -> NewAccount:
        form = {
            "grant_type": "authorization_code",
            "client_id": CLIENT_ID,
            "code": code,
            "redirect_uri": auth.redirect_uri,
            "code_verifier": auth.verifier,
        }
        try:
            reply = await http.post_form(TOKEN_URL, form, ACCEPT_JSON)
            answer = token_answer(reply, "Codex token exchange")
        except (TransportError, ValueError) as exc:
            raise LoginError(str(exc)) from None
        login = _login(answer)
        if not login.email:
            raise LoginError("Codex login returned no e-mail address")
        return NewAccount(file_name(login.email, login.account_id, login.plan), _fields(login))

    # -- tokens ----------------------------------------------------------------------------

    async def refresh(self, http: OAuthHttp, account: Account) -> Refreshed:
        form = {
            "client_id": CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": account.text("refresh_token"),
            "scope": REFRESH_SCOPE,
        }
        answer = await refresh_answer(http, TOKEN_URL, form, ACCEPT_JSON)
        answer.setdefault("refresh_token", account.text("refresh_token"))
        answer.setdefault("id_token", account.text("id_token"))
        login = _login(answer)
        updates = _fields(login)
        # A refresh whose id_token lacks a claim keeps what the file knew.
        for key in ("email", "account_id"):
            if not updates[key]:
                updates[key] = account.text(key)
        return Refreshed(self.tokens(updates), updates)

    # -- serving ---------------------------------------------------------------------------

    def upstream(self, account: Account) -> Sequence[Upstream]:
        email, account_id, plan = identity(account.text("id_token"))
        account_id = account.text("account_id") or account_id
        base = BASE_URL
        headers = {
            "Originator": "codex-tui",
            "User-Agent": USER_AGENT,
            "Connection": "Keep-Alive",
            "Chatgpt-Account-Id": account_id,
        }
        return [
            Upstream(
                base_url=base,
                headers=headers,
                models=models_for(plan),
                adapter=CodexAdapter(base),
                label=account.text("email") or email or account.name,
            )
        ]

    async def quota(self, http: OAuthHttp, account: Account, token: str) -> QuotaReport:
        _, claimed, plan = identity(account.text("id_token"))
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "User-Agent": "codex-cli/1.0.0",
            "Chatgpt-Account-Id": account.text("account_id") or claimed,
        }
        try:
            reply = await http.get(USAGE_URL, headers)
        except TransportError as exc:
            raise QuotaFailed(f"Codex usage lookup failed: {exc}") from None
        if not reply.ok:
            raise QuotaFailed(f"Codex usage lookup failed: status {reply.status}")
        body = reply.object()
        limits = body.get("rate_limit")
        limits = limits if isinstance(limits, dict) else {}
        windows = [
            w
            for w in (
                _window("primary", limits.get("primary_window")),
                _window("secondary", limits.get("secondary_window")),
            )
            if w is not None
        ]
        return QuotaReport(plan=text(body, "plan_type") or plan, windows=tuple(windows))


def _login(answer: dict[str, Any]) -> _Login:
    email, account_id, plan = identity(text(answer, "id_token"))
    return _Login(answer, email, account_id, plan)


def _fields(login: _Login) -> dict[str, Any]:
    """The auth file's fields (§3.2), as CLIProxyAPI writes them."""
    answer, now = login.tokens, time.time()
    return {
        "type": "codex",
        "id_token": text(answer, "id_token"),
        "access_token": text(answer, "access_token"),
        "refresh_token": text(answer, "refresh_token"),
        "account_id": login.account_id,
        "last_refresh": rfc3339(now),
        "email": login.email,
        "expired": rfc3339(expires_at(answer, now) or now + 3600),
    }


PROVIDER = Codex()
