"""Kimi Code (Moonshot) subscriptions (oauth-providers.md §5, docs/oauth.md).

Login: RFC 8628 device code at auth.kimi.com, no PKCE and no secret; every auth and inference
call carries the five `X-Msh-*` device headers, the device id kept in the auth file.
Inference: OpenAI chat completions at api.kimi.com/coding/v1, the model without its `kimi-`
prefix and `[1m]` suffix, thinking as `thinking.{type,effort}`. No quota lookup exists.
"""

from __future__ import annotations

import platform
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from yarl import URL

from ...routing.upstream_adapter import FailureHint, StreamProcessor, UpstreamRequest
from ...translate import parse_model_suffix
from ..auth_files import safe_name
from ..http import OAuthHttp, TransportError
from ..provider import (
    Account,
    DeviceAuthorization,
    DevicePoll,
    LoginError,
    NewAccount,
    OAuthProvider,
    ProviderInfo,
    Refreshed,
    RefreshFailed,
    Upstream,
    rfc3339,
)
from .common import device_outcome, expires_at, number, refresh_error, text

AUTH = "https://auth.kimi.com"
DEVICE_URL = f"{AUTH}/api/oauth/device_authorization"
TOKEN_URL = f"{AUTH}/api/oauth/token"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CLIENT_ID = "17e5f671-d194-4dfb-9706-5516cb48c098"
BASE_URL = "https://api.kimi.com/coding/v1"
# §5: the reference identifies itself as CLIProxyAPI; we keep its values, which Moonshot knows.
PLATFORM = "CLIProxyAPI"
VERSION = "7.2.140"
MIN_INTERVAL = 5.0
MODELS = (
    "kimi-k2",
    "kimi-k2-thinking",
    "kimi-k2.5",
    "kimi-k2.6",
    "kimi-k2.7-code",
    "kimi-k2.7-code-highspeed",
    "kimi-k3",
    "kimi-k3-256k",
)
# OpenAI reasoning_effort -> Kimi thinking.effort (low | high | max).
_EFFORT = {"minimal": "low", "low": "low", "medium": "high", "high": "high", "xhigh": "max"}


def device_headers(device_id: str) -> dict[str, str]:
    """The `X-Msh-*` set every Kimi call needs (§5), computed once per account."""
    return {
        "X-Msh-Platform": PLATFORM,
        "X-Msh-Version": VERSION,
        "X-Msh-Device-Name": socket.gethostname() or "unknown",
        "X-Msh-Device-Model": f"{platform.system()} {platform.machine()}".strip() or "unknown",
        "X-Msh-Device-Id": device_id,
    }


def upstream_model(model: str) -> str:
    """`kimi-k3[1m]` -> `k3`: the coding API knows the bare names (§5)."""
    model = parse_model_suffix(model)[0]
    model = model.removesuffix("[1m]")
    return model.removeprefix("kimi-")


def kimi_thinking(body: dict[str, Any]) -> None:
    """OpenAI's `reasoning_effort` as Kimi's `thinking` object (§9): none disables it."""
    effort = body.pop("reasoning_effort", None)
    if not isinstance(effort, str):
        return
    if effort == "none":
        body["thinking"] = {"type": "disabled"}
    else:
        body["thinking"] = {"type": "enabled", "effort": _EFFORT.get(effort, "high")}


class KimiAdapter:
    def __init__(self, base_url: str) -> None:
        self._url = URL(base_url + "/chat/completions")

    def build(
        self,
        model: str,
        body: dict[str, Any],
        stream: bool,
        headers: dict[str, str],
        client_headers: Mapping[str, str],
    ) -> UpstreamRequest:
        out = dict(body)
        out["model"] = upstream_model(str(body.get("model") or model))
        kimi_thinking(out)
        return UpstreamRequest(self._url, dict(headers), orjson.dumps(out))

    def count_request(
        self, body: dict[str, Any], headers: dict[str, str], client_headers: Mapping[str, str]
    ) -> UpstreamRequest | None:
        return None

    def response(self, body: bytes) -> bytes:
        return body

    def stream(self, inner: StreamProcessor) -> StreamProcessor:
        return inner

    def failure(self, status: int, headers: Mapping[str, str], body: bytes) -> FailureHint | None:
        return None  # Retry-After, when Moonshot sends one, and the generic rules


class Kimi(OAuthProvider):
    info = ProviderInfo(
        type="kimi",
        label="Kimi",
        starter="kimi",
        names=("kimi",),
        flow="device",
        wire_format="openai",
        refresh_lead=300.0,
        api_hosts=("api.kimi.com",),
        state_prefix="kmi-",
    )
    min_interval = MIN_INTERVAL  # §5: polls at least this far apart (tests shorten it)

    # -- login -----------------------------------------------------------------------------

    async def device_start(self, http: OAuthHttp) -> DeviceAuthorization:
        device_id = str(uuid.uuid4())
        try:
            reply = await http.post_form(
                DEVICE_URL, {"client_id": CLIENT_ID}, device_headers(device_id)
            )
        except TransportError as exc:
            raise LoginError(f"Kimi device login failed: {exc}") from None
        answer = reply.object()
        if not reply.ok or not text(answer, "device_code"):
            raise LoginError(f"Kimi device login failed: status {reply.status}")
        return DeviceAuthorization(
            device_code=text(answer, "device_code"),
            user_code=text(answer, "user_code"),
            verification_uri=text(answer, "verification_uri"),
            verification_uri_complete=text(answer, "verification_uri_complete"),
            interval=max(self.min_interval, number(answer, "interval") or MIN_INTERVAL),
            expires_in=min(900.0, number(answer, "expires_in") or 900.0),
            extra={"device_id": device_id},
        )

    async def device_poll(self, http: OAuthHttp, device: DeviceAuthorization) -> DevicePoll:
        form = {
            "client_id": CLIENT_ID,
            "device_code": device.device_code,
            "grant_type": DEVICE_GRANT,
        }
        device_id = device.extra.get("device_id") or str(uuid.uuid4())
        try:
            reply = await http.post_form(TOKEN_URL, form, device_headers(device_id))
        except TransportError as exc:
            return DevicePoll("pending", message=str(exc))
        if reply.ok and text(reply.object(), "access_token"):
            return DevicePoll("done", account=_new_account(reply.object(), device_id))
        return device_outcome(reply)

    # -- tokens ----------------------------------------------------------------------------

    async def refresh(self, http: OAuthHttp, account: Account) -> Refreshed:
        form = {
            "client_id": CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": account.text("refresh_token"),
        }
        headers = device_headers(account.text("device_id") or str(uuid.uuid4()))
        try:
            reply = await http.post_form(TOKEN_URL, form, headers)
        except TransportError as exc:
            raise RefreshFailed(str(exc), retryable=True) from None
        if not reply.ok or not text(reply.object(), "access_token"):
            raise refresh_error(reply, frozenset({401, 403}))  # §5: "refresh token rejected"
        answer, now = reply.object(), time.time()
        updates = {
            "type": "kimi",
            "access_token": text(answer, "access_token"),
            "refresh_token": text(answer, "refresh_token") or account.text("refresh_token"),
            "expired": rfc3339(expires_at(answer, now) or now + 3600),
            "last_refresh": rfc3339(now),
        }
        return Refreshed(self.tokens(updates), updates)

    # -- serving ---------------------------------------------------------------------------

    def upstream(self, account: Account) -> Sequence[Upstream]:
        headers = {
            "User-Agent": f"{PLATFORM}/{VERSION}",
            **device_headers(account.text("device_id") or account.auth_index),
        }
        return [
            Upstream(
                base_url=BASE_URL,
                headers=headers,
                models=MODELS,
                adapter=KimiAdapter(BASE_URL),
                label=account.text("email") or account.text("label") or account.name,
            )
        ]


def _new_account(answer: Mapping[str, Any], device_id: str) -> NewAccount:
    now = time.time()
    data = {
        "type": "kimi",
        "access_token": text(answer, "access_token"),
        "refresh_token": text(answer, "refresh_token"),
        "token_type": text(answer, "token_type") or "Bearer",
        "scope": text(answer, "scope"),
        "device_id": device_id,
        "expired": rfc3339(expires_at(answer, now) or now + 3600),
        "timestamp": int(now * 1000),
    }
    return NewAccount(safe_name("kimi", str(int(now * 1000))), data)


PROVIDER = Kimi()
