"""Claude (Pro/Max) subscription accounts (oauth-providers.md §2).

Login: authorization code with PKCE against claude.ai, JSON token exchange at
platform.claude.com, then the profile for the e-mail and ids. Refresh: the same endpoint, JSON,
4 h ahead. Inference: the Messages API at api.anthropic.com with the OAuth token as Bearer, the
`oauth-2025-04-20` beta, `?beta=true`, Claude Code's headers and system prompt. Rate limits: the
unified 5h/7d reset headers cool the whole account. Quota: `/api/oauth/usage` and the profile.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import random
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import orjson
from yarl import URL

from ...routing.upstream_adapter import FailureHint, StreamProcessor, UpstreamRequest
from ..auth_files import safe_name
from ..http import OAuthHttp, Reply
from ..provider import (
    Account,
    Authorization,
    LoginError,
    NewAccount,
    OAuthProvider,
    ProviderInfo,
    QuotaReport,
    QuotaWindow,
    Refreshed,
    RefreshFailed,
    RefreshRejected,
    Tokens,
    Upstream,
    parse_time,
    rfc3339,
)

AUTHORIZE_URL = "https://claude.ai/oauth/authorize"
TOKEN_URL = "https://platform.claude.com/v1/oauth/token"  # noqa: S105  # an endpoint
API = "https://api.anthropic.com"
PROFILE_URL = f"{API}/api/oauth/profile"
ROLES_URL = f"{API}/api/oauth/claude_cli/roles"
USAGE_URL = f"{API}/api/oauth/usage"
CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
REDIRECT_URI = "http://localhost:54545/callback"
SCOPE = "user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload"
AXIOS = {
    "Accept": "application/json, text/plain, */*",
    "Content-Type": "application/json",
    "User-Agent": "axios/1.15.2",
    "Connection": "close",
}
CLI_VERSION = "2.1.220"
USER_AGENT = f"claude-cli/{CLI_VERSION} (external, cli)"
QUOTA_USER_AGENT = "claude-cli/1.0.83 (external, cli)"
ANTHROPIC_VERSION = "2023-06-01"
OAUTH_BETA = "oauth-2025-04-20"
CLAUDE_CODE_SYSTEM = "You are Claude Code, Anthropic's official CLI for Claude."
MODELS = (
    "claude-haiku-4-5-20251001",
    "claude-sonnet-4-5-20250929",
    "claude-sonnet-4-6",
    "claude-opus-4-6",
    "claude-opus-4-7",
    "claude-opus-4-8",
    "claude-opus-5",
    "claude-sonnet-5",
    "claude-fable-5",
    "claude-opus-4-5-20251101",
    "claude-opus-4-1-20250805",
    "claude-opus-4-20250514",
    "claude-sonnet-4-20250514",
    "claude-3-7-sonnet-20250219",
    "claude-3-5-haiku-20241022",
)
STATIC_HEADERS = {
    "anthropic-version": ANTHROPIC_VERSION,
    "anthropic-dangerous-direct-browser-access": "true",
    "x-app": "cli",
    "X-Stainless-Retry-Count": "0",
    "X-Stainless-Runtime": "node",
    "X-Stainless-Lang": "js",
    "X-Stainless-Timeout": "600",
    "User-Agent": USER_AGENT,
}
QUOTA_WINDOWS = (
    ("five_hour", "5h Session", 18000),
    ("seven_day", "7d Weekly", 604800),
    ("seven_day_sonnet", "7d Sonnet", 604800),
    ("seven_day_opus", "7d Opus", 604800),
)
_COUNT_FIELDS = ("model", "messages", "system", "tools", "tool_choice", "thinking")
_FUZZ = (1.0, 30.0)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def pkce() -> tuple[str, str]:
    """(verifier, S256 challenge): a 96-byte verifier, as Claude Code makes it."""
    verifier = _b64(secrets.token_bytes(96))
    return verifier, _b64(hashlib.sha256(verifier.encode()).digest())


def _text(obj: Any, *path: str) -> str:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj.strip() if isinstance(obj, str) else ""


def _bearer(token: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        **AXIOS,
        "Cache-Control": "no-cache",
        "Authorization": f"Bearer {token}",
        **(extra or {}),
    }


def _retry_after(reply: Reply) -> float | None:
    ms = reply.headers.get("Retry-After-Ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    try:
        return float(reply.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _error_text(reply: Reply) -> str:
    body = reply.object()
    code = reply.error_code()
    description = body.get("error_description")
    if not isinstance(description, str):
        error = body.get("error")
        description = error.get("message") if isinstance(error, dict) else ""
    text = f"{code}: {description}" if code and description else code or str(description or "")
    return (text or f"status {reply.status}")[:300]


class Claude(OAuthProvider):
    info = ProviderInfo(
        type="claude",
        label="Claude",
        starter="anthropic",
        names=("anthropic", "claude"),
        flow="redirect",
        wire_format="anthropic",
        callback_path="/anthropic/callback",
        redirect_uri=REDIRECT_URI,
        refresh_lead=4 * 3600.0,
        api_hosts=("api.anthropic.com",),
    )

    # -- login -------------------------------------------------------------------------------

    def authorize(self, state: str) -> Authorization:
        verifier, challenge = pkce()
        query = {
            "code": "true",
            "client_id": CLIENT_ID,
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPE,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": state,
        }
        return Authorization(f"{AUTHORIZE_URL}?{urlencode(query)}", REDIRECT_URI, verifier)

    async def exchange(
        self, http: OAuthHttp, auth: Authorization, code: str, state: str
    ) -> NewAccount:
        code, _, pasted_state = code.partition("#")  # the manual page shows `code#state`
        body = {
            "grant_type": "authorization_code",
            "code": code.strip(),
            "redirect_uri": auth.redirect_uri,
            "client_id": CLIENT_ID,
            "code_verifier": auth.verifier,
            "state": pasted_state.strip() or state,
        }
        reply = await http.post_json(TOKEN_URL, body, AXIOS)
        if reply.status != 200:
            raise LoginError(f"token exchange failed: {_error_text(reply)}")
        answer = reply.object()
        if not isinstance(answer.get("access_token"), str):
            raise LoginError("token exchange failed: no access token in the answer")
        identity = await self._identity(http, answer)
        await self._roles(http, answer["access_token"])
        if not identity["email"]:
            raise LoginError("login failed: the account has no e-mail address")
        data = {
            "type": "claude",
            **_token_fields(answer, "", time.time()),
            "id_token": "",
            **identity,
            "claude_device_ids": [secrets.token_hex(32)],
        }
        return NewAccount(safe_name("claude", identity["email"]), data)

    async def _identity(self, http: OAuthHttp, answer: Mapping[str, Any]) -> dict[str, str]:
        """E-mail and ids: the token answer's, overridden by the profile's when it answers."""
        identity = {
            "email": _text(answer, "account", "email_address"),
            "account_uuid": _text(answer, "account", "uuid"),
            "organization_uuid": _text(answer, "organization", "uuid"),
            "organization_name": _text(answer, "organization", "name"),
        }
        reply = await http.get(PROFILE_URL, _bearer(str(answer["access_token"])))
        if reply.ok:
            profile = reply.object()
            found = {
                "email": _text(profile, "account", "email"),
                "account_uuid": _text(profile, "account", "uuid"),
                "organization_uuid": _text(profile, "organization", "uuid"),
                "organization_name": _text(profile, "organization", "name"),
            }
            identity.update({k: v for k, v in found.items() if v})
        return identity

    async def _roles(self, http: OAuthHttp, token: str) -> None:
        """Claude Code asks for the roles after a login; the answer is not used."""
        with contextlib.suppress(Exception):  # best effort, as the reference
            await http.get(ROLES_URL, _bearer(token))

    # -- refresh -----------------------------------------------------------------------------

    async def refresh(self, http: OAuthHttp, account: Account) -> Refreshed:
        refresh_token = account.text("refresh_token")
        if not refresh_token:
            raise RefreshRejected("no refresh token in the auth file; sign in again")
        body = {
            "client_id": CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "scope": SCOPE,
        }
        reply = await http.post_json(TOKEN_URL, body, AXIOS)
        if reply.status == 429:
            raise RefreshFailed("rate limited", retryable=False, retry_after=_retry_after(reply))
        if reply.status >= 500:
            raise RefreshFailed(f"status {reply.status}", retryable=True)
        if reply.status in (400, 401, 403):
            raise RefreshRejected(f"refresh rejected: {_error_text(reply)}")
        answer = reply.object()
        if reply.status != 200 or not isinstance(answer.get("access_token"), str):
            raise RefreshFailed(f"status {reply.status}", retryable=False)
        now = time.time()
        fields = _token_fields(answer, refresh_token, now)
        identity = await self._identity(http, answer)
        updates = {"type": "claude", **fields, **{k: v for k, v in identity.items() if v}}
        tokens = Tokens(
            fields["access_token"], fields["refresh_token"], parse_time(fields["expired"]), now
        )
        return Refreshed(tokens, updates)

    # -- serving -----------------------------------------------------------------------------

    def upstream(self, account: Account) -> list[Upstream]:
        devices = account.data.get("claude_device_ids")
        device = devices[0] if isinstance(devices, list) and devices else ""
        adapter = ClaudeAdapter(API, str(device), account.text("account_uuid"))
        return [
            Upstream(
                base_url=API,
                headers=STATIC_HEADERS,
                models=MODELS,
                adapter=adapter,
                label=account.text("email") or account.name.removesuffix(".json"),
            )
        ]

    async def quota(self, http: OAuthHttp, account: Account, token: str) -> QuotaReport:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
            "anthropic-beta": OAUTH_BETA,
            "User-Agent": QUOTA_USER_AGENT,
        }
        usage, profile = await asyncio.gather(_usage(http, headers), http.get(PROFILE_URL, headers))
        if usage.status == 401:
            raise LoginError("needs re-authentication")
        if not usage.ok:
            raise LoginError(f"usage lookup failed: status {usage.status}")
        return QuotaReport(_plan(profile), _windows(usage.object()))


async def _usage(http: OAuthHttp, headers: Mapping[str, str]) -> Reply:
    """The usage endpoint, with 2 more tries 1 s apart on a 429 (as the dashboard does)."""
    reply = await http.get(USAGE_URL, headers)
    for _ in range(2):
        if reply.status != 429:
            break
        await asyncio.sleep(1.0)  # the endpoint's own rate limit
        reply = await http.get(USAGE_URL, headers)
    return reply


def _plan(profile: Reply) -> str:
    account = profile.object().get("account") if profile.ok else None
    if not isinstance(account, dict):
        return ""
    if account.get("has_claude_max"):
        return "plan_max"
    return "plan_pro" if account.get("has_claude_pro") else "plan_free"


def _windows(usage: Mapping[str, Any]) -> tuple[QuotaWindow, ...]:
    windows = []
    for key, label, seconds in QUOTA_WINDOWS:
        value = usage.get(key)
        if not isinstance(value, dict):
            continue
        used = value.get("utilization")
        resets = value.get("resets_at")
        windows.append(
            QuotaWindow(
                key,
                label,
                float(used) if isinstance(used, int | float) else None,
                resets if isinstance(resets, str) else None,
                seconds,
            )
        )
    return tuple(windows)


def _token_fields(answer: Mapping[str, Any], old_refresh: str, now: float) -> dict[str, str]:
    expires_in = answer.get("expires_in")
    lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
    refresh = answer.get("refresh_token")
    return {
        "access_token": str(answer["access_token"]),
        "refresh_token": refresh if isinstance(refresh, str) and refresh else old_refresh,
        "expired": rfc3339(now + lifetime),
        "last_refresh": rfc3339(now),
    }


# -- the Messages API with an OAuth token ------------------------------------------------------


def betas(body: Mapping[str, Any], requested: str) -> str:
    """The `anthropic-beta` value in Claude Code's order, plus what the caller asked for."""
    wanted = [b.strip() for b in requested.split(",") if b.strip()]
    thinking = body.get("thinking")
    out = ["claude-code-20250219", OAUTH_BETA]
    if "context-1m-2025-08-07" in wanted:
        out.append("context-1m-2025-08-07")
    out.append("interleaved-thinking-2025-05-14")
    if not (isinstance(thinking, dict) and "display" in thinking):
        out.append("redact-thinking-2026-02-12")
    out += ["context-management-2025-06-27", "prompt-caching-scope-2026-01-05"]
    if body.get("tools"):
        out.append("advanced-tool-use-2025-11-20")
    out.append("effort-2025-11-24")
    out += [b for b in wanted if b not in out]
    return ",".join(out)


def _system_blocks(system: Any) -> list[dict[str, Any]]:
    if isinstance(system, str):
        return [{"type": "text", "text": system}] if system.strip() else []
    if isinstance(system, list):
        return [b for b in system if isinstance(b, dict)]
    return []


def _is_claude_code(blocks: list[dict[str, Any]]) -> bool:
    return any(str(b.get("text", "")).startswith(CLAUDE_CODE_SYSTEM) for b in blocks)


def billing_line(body: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(orjson.dumps(body.get("messages") or [])).hexdigest()[:3]
    return f"x-anthropic-billing-header: cc_version={CLI_VERSION}.{digest}; cc_entrypoint=cli;"


def cloak(body: dict[str, Any]) -> None:
    """Claude Code's system prompt for a request from any other client (§2.4): the caller's
    own system text moves into a `<system-reminder>` at the start of the first user turn."""
    own = _system_blocks(body.get("system"))
    if _is_claude_code(own):
        return  # Claude Code itself: its system prompt is already the expected one
    body["system"] = [
        {"type": "text", "text": billing_line(body)},
        {"type": "text", "text": CLAUDE_CODE_SYSTEM, "cache_control": {"type": "ephemeral"}},
    ]
    texts = [str(b.get("text", "")) for b in own if b.get("type") == "text" and b.get("text")]
    if texts:
        _remind(body, "\n\n".join(texts))


def _remind(body: dict[str, Any], text: str) -> None:
    reminder = {"type": "text", "text": f"<system-reminder>\n{text}\n</system-reminder>"}
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            message["content"] = [reminder, *(content if isinstance(content, list) else [])]
            return
    messages.insert(0, {"role": "user", "content": [reminder]})


class ClaudeAdapter:
    """Sends Messages requests of one Claude account (see the module docstring)."""

    def __init__(self, base_url: str, device_id: str, account_uuid: str) -> None:
        self.messages_url = URL(f"{base_url}/v1/messages?beta=true")
        self.count_url = URL(f"{base_url}/v1/messages/count_tokens?beta=true")
        self.device_id = device_id
        self.account_uuid = account_uuid
        self.session_id = secrets.token_hex(16)

    def _headers(
        self, body: Mapping[str, Any], headers: dict[str, str], client: Mapping[str, str]
    ) -> dict[str, str]:
        out = {k: v for k, v in headers.items() if k.lower() != "x-api-key"}
        out["anthropic-beta"] = betas(body, client.get("anthropic-beta", ""))
        out["X-Claude-Code-Session-Id"] = client.get("X-Claude-Code-Session-Id", self.session_id)
        return out

    def build(
        self,
        model: str,
        body: dict[str, Any],
        stream: bool,
        headers: dict[str, str],
        client_headers: Mapping[str, str],
    ) -> UpstreamRequest:
        body["model"] = model
        body["stream"] = stream
        cloak(body)
        found = body.get("metadata")
        metadata: dict[str, Any] = found if isinstance(found, dict) else {}
        if not metadata.get("user_id"):
            identity = {
                "device_id": self.device_id,
                "account_uuid": self.account_uuid,
                "session_id": self.session_id,
            }
            body["metadata"] = {**metadata, "user_id": json.dumps(identity)}
        out = self._headers(body, headers, client_headers)
        return UpstreamRequest(self.messages_url, out, orjson.dumps(body))

    def count_request(
        self, body: dict[str, Any], headers: dict[str, str], client_headers: Mapping[str, str]
    ) -> UpstreamRequest | None:
        counted = {k: v for k, v in body.items() if k in _COUNT_FIELDS}
        cloak(counted)
        out = self._headers(counted, headers, client_headers)
        out.pop("X-Stainless-Timeout", None)
        return UpstreamRequest(self.count_url, out, orjson.dumps(counted))

    def response(self, body: bytes) -> bytes:
        return body

    def stream(self, inner: StreamProcessor) -> StreamProcessor:
        return inner

    def failure(self, status: int, headers: Mapping[str, str], body: bytes) -> FailureHint | None:
        return rate_limit_hint(status, headers, time.time())


def rate_limit_hint(status: int, headers: Mapping[str, str], now: float) -> FailureHint | None:
    """The cooldown of a 429 from the unified rate-limit headers (§2.4): the latest reset of
    the rejected windows (and Retry-After) plus 1-30 s, for the whole account."""
    if status != 429:
        return None
    prefix = "anthropic-ratelimit-unified"
    statuses = {w: headers.get(f"{prefix}-{w}-status", "") for w in ("5h", "7d", "7d_oi")}
    rejected = [w for w, s in statuses.items() if s == "rejected"]
    if rejected == ["7d_oi"]:
        return None  # the overage window alone does not stop the subscription
    if not rejected and headers.get(f"{prefix}-status") != "rejected":
        return None
    deadlines = [_number(headers.get(f"{prefix}-{w}-reset")) for w in rejected]
    after = _number(headers.get("retry-after"))
    if after:
        deadlines.append(now + after)
    latest = max((d for d in deadlines if d), default=0.0)
    reason = f"rate limit ({', '.join(rejected) or 'unified'})"
    if latest <= now:
        return FailureHint(None, credential_wide=True, reason=reason)
    return FailureHint(latest - now + random.uniform(*_FUZZ), True, reason)  # noqa: S311


def _number(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


PROVIDER = Claude()
