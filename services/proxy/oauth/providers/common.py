"""What several provider modules share: PKCE, unsigned JWT claims, token answers, the
classification of token-endpoint failures, and small readers of untrusted JSON.

Nothing here talks to a provider; the modules pass in what they got from `OAuthHttp`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Mapping
from typing import Any

import orjson

from ..http import Reply
from ..provider import DevicePoll, RefreshFailed, RefreshRejected

# Error codes by which token endpoints say "this refresh token will never work again".
REJECTED_CODES = frozenset(
    {
        "invalid_grant",
        "refresh_token_reused",
        "refresh_token_expired",
        "refresh_token_invalidated",
        "invalid_refresh_token",
        "unauthorized_client",
    }
)


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge): 96 random bytes, base64url without padding (RFC 7636)."""
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(96)).rstrip(b"=").decode()
    return verifier, s256(verifier)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, read without checking its signature ({} when it is not one):
    the providers' own clients read `id_token` claims this way (it came over TLS from them)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = orjson.loads(raw)
    except (ValueError, orjson.JSONDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def expires_at(answer: Mapping[str, Any], now: float | None = None) -> float:
    """Epoch expiry of a token answer's `expires_in` (0.0 when it has none)."""
    seconds = number(answer, "expires_in")
    if seconds is None or seconds <= 0:
        return 0.0
    return (time.time() if now is None else now) + seconds


def token_answer(reply: Reply, what: str) -> dict[str, Any]:
    """A successful token answer with an access token; LoginError-style ValueError otherwise.
    The message names the status and the OAuth error code only (no body: it may echo codes)."""
    answer = reply.object()
    if not reply.ok or not text(answer, "access_token"):
        code = reply.error_code()
        raise ValueError(f"{what} failed: status {reply.status}" + (f" ({code})" if code else ""))
    return answer


def error_codes(reply: Reply) -> set[str]:
    """Every error code of an answer: RFC 6749's `error`, or OpenAI's `error.type`/`code`."""
    err = reply.object().get("error")
    if isinstance(err, str):
        return {err}
    if isinstance(err, dict):
        return {str(err[k]) for k in ("type", "code", "status") if isinstance(err.get(k), str)}
    return set()


def refresh_error(reply: Reply, rejected_statuses: frozenset[int] = frozenset()) -> Exception:
    """The exception for a failed refresh answer: rejected for an OAuth "never again" code
    (or a status the provider uses for that), retryable for 5xx, a pause for 429."""
    codes = error_codes(reply)
    if codes & REJECTED_CODES or reply.status in rejected_statuses:
        named = sorted(codes & REJECTED_CODES) or [str(reply.status)]
        return RefreshRejected(f"refresh token rejected ({named[0]})")
    if reply.status == 429:
        return RefreshFailed(
            "refresh rate limited", retryable=False, retry_after=retry_after(reply)
        )
    retryable = reply.status >= 500
    return RefreshFailed(f"refresh failed: status {reply.status}", retryable=retryable)


def retry_after(reply: Reply) -> float | None:
    value = reply.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        return google_retry_delay(reply.object())
    return seconds if seconds > 0 else None


def google_retry_delay(body: Mapping[str, Any]) -> float | None:
    """`RetryInfo.retryDelay` (or `ErrorInfo.metadata.quotaResetDelay`) of a google.rpc error,
    in seconds; a protobuf Duration in JSON is "<seconds>s" ("3.5s")."""
    error = body.get("error")
    details = error.get("details") if isinstance(error, dict) else None
    if not isinstance(details, list):
        return None
    found: float | None = None
    for detail in details:
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("google.rpc.RetryInfo"):
            return duration(detail.get("retryDelay"))
        metadata = detail.get("metadata")
        if kind.endswith("google.rpc.ErrorInfo") and isinstance(metadata, dict):
            found = duration(metadata.get("quotaResetDelay"))
    return found


def duration(value: Any) -> float | None:
    """Seconds of a protobuf Duration in JSON ("3.5s"), a Go duration ("1h2m3.5s", "250ms"),
    or None when it is neither."""
    if not isinstance(value, str) or not value.strip():
        return None
    rest, total = value.strip(), 0.0
    units = (("ms", 0.001), ("h", 3600.0), ("m", 60.0), ("s", 1.0))
    while rest:
        for unit, scale in units:
            head, sep, tail = rest.partition(unit)
            if sep and _is_number(head):
                total += float(head) * scale
                rest = tail
                break
        else:
            return None
    return total if total > 0 else None


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def device_outcome(reply: Reply) -> DevicePoll:
    """RFC 8628 §3.5 errors of a poll (a 5xx is "try again at the next interval")."""
    codes = error_codes(reply)
    if "slow_down" in codes:
        return DevicePoll("slow_down")
    if "authorization_pending" in codes or reply.status >= 500:
        return DevicePoll("pending")
    if "expired_token" in codes:
        return DevicePoll("expired", message="The code expired before it was approved")
    if "access_denied" in codes:
        return DevicePoll("denied", message="The login was denied")
    return DevicePoll("denied", message=f"Device login failed: status {reply.status}")
