"""What the two Google subscription providers share (oauth-providers.md §4 and §7): the
Google token endpoint, userinfo, Code Assist project discovery and onboarding, the
`{project, model, request}` envelope around a Gemini body and the `{response: ...}` wrapper
around answers, Google's 429 signals, and the per-model quota of `fetchAvailableModels`.

`antigravity.py` and `gemini.py` hold what differs: clients, scopes, headers, envelope extras,
file layout and base URLs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from ...routing.upstream_adapter import FailureHint, StreamProcessor
from ...translate.sse import SSEParser
from ...translate.usage import Usage
from ..http import OAuthHttp, Reply, TransportError
from ..provider import LoginError, QuotaFailed, QuotaReport, QuotaWindow, RefreshFailed
from .common import duration, google_retry_delay, refresh_error, text, token_answer

TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105  # a URL, not a secret
PROD = "https://cloudcode-pa.googleapis.com"
DAILY = "https://daily-cloudcode-pa.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/"
# Below this, a RATE_LIMIT_EXCEEDED delay is a short burst limit (§4.4): rest briefly only.
SHORT_RATE_LIMIT = 300.0


@dataclass(frozen=True, slots=True)
class GoogleClient:
    client_id: str
    client_secret: str
    user_agent: str = ""


# -- tokens ---------------------------------------------------------------------------------


async def exchange_code(
    http: OAuthHttp, client: GoogleClient, code: str, redirect_uri: str, verifier: str = ""
) -> dict[str, Any]:
    form = {
        "code": code,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "redirect_uri": redirect_uri,
        "grant_type": "authorization_code",
    }
    if verifier:
        form["code_verifier"] = verifier
    try:
        reply = await http.post_form(TOKEN_URL, form, {"Accept": "application/json"})
        return token_answer(reply, "Google token exchange")
    except (TransportError, ValueError) as exc:
        raise LoginError(str(exc)) from None


async def refresh_token(
    http: OAuthHttp, client: GoogleClient, refresh: str, user_agent: str = ""
) -> dict[str, Any]:
    """One refresh; Google answers without a new refresh token (the old one stays good)."""
    form = {
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh,
    }
    headers = {"Accept": "application/json"}
    if user_agent:
        headers["User-Agent"] = user_agent
    try:
        reply = await http.post_form(TOKEN_URL, form, headers)
    except TransportError as exc:
        raise RefreshFailed(str(exc), retryable=True) from None
    if not reply.ok or not text(reply.object(), "access_token"):
        raise refresh_error(reply)
    return reply.object()


async def user_email(http: OAuthHttp, access_token: str, url: str) -> str:
    try:
        reply = await http.get(url, {"Authorization": f"Bearer {access_token}"})
    except TransportError as exc:
        raise LoginError(f"Google userinfo failed: {exc}") from None
    email = text(reply.object(), "email") if reply.ok else ""
    if not email:
        raise LoginError(f"Google userinfo gave no e-mail address (status {reply.status})")
    return email


# -- project discovery (loadCodeAssist, onboardUser) -----------------------------------------


def project_of(value: Any) -> str:
    """A project as Code Assist writes it: a string, or an object with `id`."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return text(value, "id")
    return ""


def default_tier(load: Mapping[str, Any], fallback: str) -> str:
    tiers = load.get("allowedTiers")
    for tier in tiers if isinstance(tiers, list) else []:
        if isinstance(tier, dict) and tier.get("isDefault") and text(tier, "id"):
            return text(tier, "id")
    current = load.get("currentTier")
    if isinstance(current, dict) and text(current, "id"):
        return text(current, "id")
    return fallback


async def call_json(
    http: OAuthHttp, url: str, body: Any, headers: Mapping[str, str]
) -> dict[str, Any]:
    """A Code Assist set-up call; {} when it fails (set-up failures are retried later)."""
    try:
        reply = await http.post_json(url, body, headers)
    except TransportError:
        return {}
    return reply.object() if reply.ok else {}


async def onboard(
    http: OAuthHttp,
    url: str,
    body: dict[str, Any],
    headers: Mapping[str, str],
    *,
    tries: int = 5,
    pause: float = 2.0,
) -> str:
    """Repeat onboardUser until it is done (a long-running operation); its project or ""."""
    for attempt in range(tries):
        answer = await call_json(http, url, body, headers)
        if answer.get("done") is True:
            response = answer.get("response")
            return (
                project_of(response.get("cloudaicompanionProject"))
                if isinstance(response, dict)
                else ""
            )
        if attempt + 1 < tries:
            await asyncio.sleep(pause)
    return ""


# -- sending --------------------------------------------------------------------------------


def unwrap(obj: Any) -> Any:
    """The Gemini answer inside Code Assist's `{response: ...}` (anything else unchanged)."""
    if isinstance(obj, dict) and isinstance(obj.get("response"), dict):
        return obj["response"]
    return obj


def unwrap_body(body: bytes) -> bytes:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if isinstance(parsed, list):  # a stream answered without alt=sse
        return orjson.dumps([unwrap(item) for item in parsed])
    inner = unwrap(parsed)
    return body if inner is parsed else orjson.dumps(inner)


class UnwrappingStream:
    """Code Assist SSE frames (`data: {"response": {...}}`) handed on as plain Gemini frames."""

    def __init__(self, inner: StreamProcessor) -> None:
        self._inner = inner
        self._parser = SSEParser()

    @property
    def tokens(self) -> Usage | None:
        return self._inner.tokens

    @property
    def done(self) -> bool:
        return self._inner.done

    def feed(self, chunk: bytes) -> bytes:
        out = []
        for _, data in self._parser.feed(chunk):
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue  # not a JSON frame (a keep-alive or a stray line)
            out.append(self._inner.feed(b"data: " + orjson.dumps(unwrap(obj)) + b"\n\n"))
        return b"".join(out)

    def finish(self) -> bytes:
        return self.feed(b"\n\n") + self._inner.finish()

    def error(self, message: str, status: int) -> bytes:
        return self._inner.error(message, status)


def rate_limit_hint(status: int, body: bytes) -> FailureHint | None:
    """Google's 429 signals (§4.4): the delay from RetryInfo, ErrorInfo's quotaResetDelay or
    "after Ns" in the message; `QUOTA_EXHAUSTED` (or a long delay) spends the account's quota
    for that model, a short `RATE_LIMIT_EXCEEDED` only rests it briefly."""
    if status != 429:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    delay = google_retry_delay(parsed) or _delay_in_message(parsed)
    reason = _reason(parsed)
    if reason == "QUOTA_EXHAUSTED" or (delay is not None and delay >= SHORT_RATE_LIMIT):
        return FailureHint(delay, reason="quota exhausted")
    if reason == "RATE_LIMIT_EXCEEDED":
        return FailureHint(delay, reason="rate limited")
    return FailureHint(delay) if delay is not None else None


def _reason(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("ErrorInfo"):
            return text(detail, "reason")
    return ""


def _delay_in_message(body: Mapping[str, Any]) -> float | None:
    error = body.get("error")
    message = text(error, "message") if isinstance(error, dict) else ""
    _, found, rest = message.partition("after ")
    return duration(rest.split()[0].rstrip(".,")) if found and rest.split() else None


# -- quota ----------------------------------------------------------------------------------

GROUPS: tuple[tuple[str, str, Callable[[str], bool]], ...] = (
    ("claude-gpt", "Claude/GPT", lambda m: "claude" in m or "gpt" in m),
    ("gemini-3-pro", "Gemini 3 Pro", lambda m: "gemini-3" in m and "pro" in m),
    ("gemini-2.5-flash", "Gemini 2.5 Flash", lambda m: "gemini-2.5" in m and "flash" in m),
    ("gemini-3-flash", "Gemini 3 Flash", lambda m: "gemini-3" in m and "flash" in m),
    ("gemini-2.5-pro", "Gemini 2.5 Pro", lambda m: "gemini-2.5" in m and "pro" in m),
)


async def available_models(
    http: OAuthHttp, token: str, url: str, user_agent: str, project: str = ""
) -> QuotaReport:
    """Per-model quota of `fetchAvailableModels` (§4.5), one window per model group with the
    least remaining and the earliest reset, plus one per model (id `model:<id>`)."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": user_agent,
    }
    body = {"project": project} if project else {}
    try:
        reply = await http.post_json(url, body, headers)
    except TransportError as exc:
        raise QuotaFailed(f"quota lookup failed: {exc}") from None
    if not reply.ok:
        raise QuotaFailed(f"quota lookup failed: status {reply.status}")
    return QuotaReport(plan="", windows=tuple(_quota_windows(reply)))


async def user_quota(
    http: OAuthHttp, token: str, url: str, user_agent: str, project: str
) -> QuotaReport | None:
    """Per-model quota of `retrieveUserQuota` (what the Gemini CLI itself reads:
    `{project}` -> `buckets[{modelId, remainingFraction, resetTime}]`); None when the call
    gives no usable answer (the caller falls back to fetchAvailableModels)."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": user_agent,
    }
    try:
        reply = await http.post_json(url, {"project": project}, headers)
    except TransportError:
        return None
    buckets = reply.object().get("buckets") if reply.ok else None
    if not isinstance(buckets, list):
        return None
    per_model: dict[str, tuple[float, str | None]] = {}
    for bucket in buckets:
        if not isinstance(bucket, dict) or not isinstance(bucket.get("modelId"), str):
            continue
        entry = _fraction(bucket)
        if entry is not None:
            model = bucket["modelId"]
            # Several buckets (token types) of one model: the scarcest one counts.
            per_model[model] = min(per_model.get(model, entry), entry)
    return QuotaReport(plan="", windows=tuple(quota_windows(per_model)))


def _fraction(info: Mapping[str, Any]) -> tuple[float, str | None] | None:
    if not isinstance(info.get("remainingFraction"), int | float):
        return None
    reset = info.get("resetTime")
    return float(info["remainingFraction"]), reset if isinstance(reset, str) else None


def _quota_windows(reply: Reply) -> list[QuotaWindow]:
    models = reply.object().get("models")
    per_model: dict[str, tuple[float, str | None]] = {}
    for model, entry in (models if isinstance(models, dict) else {}).items():
        info = entry.get("quotaInfo") if isinstance(entry, dict) else None
        value = _fraction(info) if isinstance(info, dict) else None
        if value is not None:
            per_model[str(model)] = value
    return quota_windows(per_model)


def quota_windows(per_model: Mapping[str, tuple[float, str | None]]) -> list[QuotaWindow]:
    """One window per model group (least remaining, earliest reset), then one per model."""
    windows: list[QuotaWindow] = []
    grouped: dict[str, list[tuple[float, str | None]]] = {}
    labels = {gid: label for gid, label, _ in GROUPS} | {"other": "Other"}
    for model, value in per_model.items():
        gid = next((g for g, _, match in GROUPS if match(model.lower())), "other")
        grouped.setdefault(gid, []).append(value)
    for gid, label in labels.items():
        values = grouped.get(gid)
        if values:
            windows.append(_window(gid, label, values))
    windows += [_window(f"model:{m}", m, [v]) for m, v in sorted(per_model.items())]
    return windows


def _window(wid: str, label: str, values: list[tuple[float, str | None]]) -> QuotaWindow:
    remaining = min(v[0] for v in values)
    resets = sorted(r for _, r in values if r)
    return QuotaWindow(
        id=wid,
        label=label,
        used_percent=round((1.0 - remaining) * 100.0, 2),
        resets_at=_rfc3339(resets[0]) if resets else None,
        window_seconds=None,
    )


def _rfc3339(value: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def request_id() -> str:
    return f"agent-{uuid.uuid4()}"
