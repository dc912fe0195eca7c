"""What several provider modules share: PKCE and the authorize URL, unsigned JWT claims,
token answers, the classification of token-endpoint failures, RFC 8628 device logins, and
small readers of untrusted JSON.

The calls here post what a module gives them to the URL it names; the modules own every
provider's endpoints, clients and fields.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

import orjson

from ..http import OAuthHttp, Reply, TransportError
from ..provider import (
    Authorization,
    DeviceAuthorization,
    DevicePoll,
    LoginError,
    NewAccount,
    RefreshFailed,
    RefreshRejected,
)

ACCEPT_JSON: Mapping[str, str] = MappingProxyType({"Accept": "application/json"})

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


def authorization(
    url: str,
    client_id: str,
    redirect_uri: str,
    scope: str,
    state: str,
    *,
    pkce: bool = True,
    extra: Mapping[str, str] | None = None,
) -> Authorization:
    """A redirect login's authorize URL (RFC 6749 §4.1.1, with an S256 PKCE challenge unless
    the provider's client uses none); `extra` holds the provider's own parameters."""
    verifier, challenge = pkce_pair() if pkce else ("", "")
    query = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
    }
    if verifier:
        query.update(code_challenge=challenge, code_challenge_method="S256")
    return Authorization(f"{url}?{urlencode({**query, **(extra or {})})}", redirect_uri, verifier)


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


async def refresh_answer(
    http: OAuthHttp,
    url: str,
    form: Mapping[str, str],
    headers: Mapping[str, str],
    rejected_statuses: frozenset[int] = frozenset(),
) -> dict[str, Any]:
    """One form-encoded refresh: the token answer, else the `refresh_error` of the reply (a
    network failure is retryable)."""
    try:
        reply = await http.post_form(url, form, headers)
    except TransportError as exc:
        raise RefreshFailed(str(exc), retryable=True) from None
    if not reply.ok or not text(reply.object(), "access_token"):
        raise refresh_error(reply, rejected_statuses)
    return reply.object()


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


# -- RFC 8628 device logins ------------------------------------------------------------------

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


async def device_answer(
    http: OAuthHttp, url: str, form: Mapping[str, str], headers: Mapping[str, str] | None, who: str
) -> dict[str, Any]:
    """The device authorization answer (RFC 8628 §3.2); LoginError naming `who` without one."""
    try:
        reply = await http.post_form(url, form, headers)
    except TransportError as exc:
        raise LoginError(f"{who} device login failed: {exc}") from None
    answer = reply.object()
    if not reply.ok or not text(answer, "device_code"):
        raise LoginError(f"{who} device login failed: status {reply.status}")
    return answer


def device_authorization(
    answer: Mapping[str, Any], interval: float, expires_in: float, extra: Mapping[str, str]
) -> DeviceAuthorization:
    """The started login of a device answer; the module decides the interval and lifetime."""
    return DeviceAuthorization(
        device_code=text(answer, "device_code"),
        user_code=text(answer, "user_code"),
        verification_uri=text(answer, "verification_uri"),
        verification_uri_complete=text(answer, "verification_uri_complete"),
        interval=interval,
        expires_in=expires_in,
        extra=extra,
    )


async def device_poll(
    http: OAuthHttp,
    url: str,
    form: Mapping[str, str],
    headers: Mapping[str, str],
    new_account: Callable[[dict[str, Any]], NewAccount],
) -> DevicePoll:
    """One poll of the token endpoint (§3.4): done with the account a token answer makes, else
    the §3.5 outcome; a network failure is just another pending poll."""
    try:
        reply = await http.post_form(url, form, headers)
    except TransportError as exc:
        return DevicePoll("pending", message=str(exc))
    if reply.ok and text(reply.object(), "access_token"):
        return DevicePoll("done", account=new_account(reply.object()))
    return device_outcome(reply)


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
