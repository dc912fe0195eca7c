"""xAI Grok subscriptions through the Grok CLI's login (oauth-providers.md §6, docs/oauth.md).

Login: OIDC discovery at auth.x.ai (endpoints must be https on x.ai), then an RFC 8628 device
code; the `id_token` names the account (`email`, `sub`). Inference: the Responses API; OAuth
tokens go to cli-chat-proxy.grok.com with the Grok CLI's headers unless the file's `base_url`
points elsewhere. No quota lookup exists.
"""

from __future__ import annotations

import time
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
from .common import device_outcome, expires_at, jwt_claims, number, refresh_error, text

ISSUER = "https://auth.x.ai"
DISCOVERY_URL = f"{ISSUER}/.well-known/openid-configuration"
CLIENT_ID = "b1a00492-073a-47ea-816f-4c329264a828"
SCOPE = "openid profile email offline_access grok-cli:access api:access"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
API_BASE = "https://api.x.ai/v1"
CLI_PROXY = "https://cli-chat-proxy.grok.com/v1"
GROK_VERSION = "0.2.120"
CLI_HEADERS = {
    "X-XAI-Token-Auth": "xai-grok-cli",
    "x-grok-client-version": GROK_VERSION,
    "User-Agent": f"xai-grok-workspace/{GROK_VERSION}",
    "x-grok-client-identifier": "grok-shell",
    "x-authenticateresponse": "authenticate-response",
}
MODELS = (
    "grok-4.6",
    "grok-build-0.1",
    "grok-4.5",
    "grok-4.3",
    "grok-4.20-0309-reasoning",
    "grok-4.20-0309-non-reasoning",
    "grok-4.20-multi-agent-0309",
    "grok-3-mini",
    "grok-3-mini-fast",
    "grok-composer-2.5-fast",
)
_SESSION_HEADERS = ("x-grok-conv-id", "Session_id", "Session-Id")


def trusted_endpoint(url: str) -> bool:
    """§6: discovery may only send us to https on x.ai or a subdomain (checked on the real URL;
    `upstream-host-overrides` rewrites it afterwards)."""
    try:
        parsed = URL(url)
    except ValueError:
        return False
    host = (parsed.host or "").lower().rstrip(".")
    return parsed.scheme == "https" and (host == "x.ai" or host.endswith(".x.ai"))


async def discover(http: OAuthHttp) -> tuple[str, str]:
    """(device authorization endpoint, token endpoint)."""
    try:
        reply = await http.get(DISCOVERY_URL, {"Accept": "application/json"})
    except TransportError as exc:
        raise LoginError(f"xAI discovery failed: {exc}") from None
    doc = reply.object()
    device, token = text(doc, "device_authorization_endpoint"), text(doc, "token_endpoint")
    if not reply.ok or not trusted_endpoint(device) or not trusted_endpoint(token):
        raise LoginError("xAI discovery gave no usable https endpoints on x.ai")
    return device, token


class XaiAdapter:
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
        out = dict(body)
        out["model"] = parse_model_suffix(str(body.get("model") or model))[0]
        sent = dict(headers)
        conversation = next(
            (client_headers.get(h) for h in _SESSION_HEADERS if client_headers.get(h)), None
        )
        if conversation:
            sent["x-grok-conv-id"] = conversation
        return UpstreamRequest(self._url, sent, orjson.dumps(out))

    def count_request(
        self, body: dict[str, Any], headers: dict[str, str], client_headers: Mapping[str, str]
    ) -> UpstreamRequest | None:
        return None

    def response(self, body: bytes) -> bytes:
        return body

    def stream(self, inner: StreamProcessor) -> StreamProcessor:
        return inner

    def failure(self, status: int, headers: Mapping[str, str], body: bytes) -> FailureHint | None:
        return None


class Xai(OAuthProvider):
    info = ProviderInfo(
        type="xai",
        label="xAI",
        starter="xai",
        names=("xai", "x-ai", "x.ai", "grok"),
        flow="device",
        wire_format="responses",
        refresh_lead=300.0,
        api_hosts=("cli-chat-proxy.grok.com", "api.x.ai"),
        state_prefix="xai-",
    )

    # -- login -----------------------------------------------------------------------------

    async def device_start(self, http: OAuthHttp) -> DeviceAuthorization:
        device_url, token_url = await discover(http)
        try:
            reply = await http.post_form(device_url, {"client_id": CLIENT_ID, "scope": SCOPE})
        except TransportError as exc:
            raise LoginError(f"xAI device login failed: {exc}") from None
        answer = reply.object()
        if not reply.ok or not text(answer, "device_code"):
            raise LoginError(f"xAI device login failed: status {reply.status}")
        return DeviceAuthorization(
            device_code=text(answer, "device_code"),
            user_code=text(answer, "user_code"),
            verification_uri=text(answer, "verification_uri"),
            verification_uri_complete=text(answer, "verification_uri_complete"),
            interval=number(answer, "interval") or 5.0,
            expires_in=min(1800.0, number(answer, "expires_in") or 1800.0),
            extra={"token_endpoint": token_url},
        )

    async def device_poll(self, http: OAuthHttp, device: DeviceAuthorization) -> DevicePoll:
        token_url = device.extra.get("token_endpoint", "")
        if not trusted_endpoint(token_url):
            _, token_url = await discover(http)
        form = {
            "grant_type": DEVICE_GRANT,
            "device_code": device.device_code,
            "client_id": CLIENT_ID,
        }
        try:
            reply = await http.post_form(token_url, form, {"Accept": "application/json"})
        except TransportError as exc:
            return DevicePoll("pending", message=str(exc))
        if reply.ok and text(reply.object(), "access_token"):
            return DevicePoll("done", account=_new_account(reply.object(), token_url))
        return device_outcome(reply)

    # -- tokens ----------------------------------------------------------------------------

    async def refresh(self, http: OAuthHttp, account: Account) -> Refreshed:
        token_url = account.text("token_endpoint")
        if not trusted_endpoint(token_url):
            try:
                _, token_url = await discover(http)
            except LoginError as exc:
                raise RefreshFailed(str(exc), retryable=True) from None
        form = {
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "refresh_token": account.text("refresh_token"),
        }
        try:
            reply = await http.post_form(token_url, form, {"Accept": "application/json"})
        except TransportError as exc:
            raise RefreshFailed(str(exc), retryable=True) from None
        if not reply.ok or not text(reply.object(), "access_token"):
            raise refresh_error(reply)
        answer = reply.object()
        answer.setdefault("refresh_token", account.text("refresh_token"))
        answer.setdefault("id_token", account.text("id_token"))
        updates = _fields(answer, token_url, account.data)
        return Refreshed(self.tokens(updates), updates)

    # -- serving ---------------------------------------------------------------------------

    def upstream(self, account: Account) -> Sequence[Upstream]:
        configured = account.text("base_url").rstrip("/")
        via_cli = configured in ("", API_BASE)
        base = CLI_PROXY if via_cli else configured
        headers = dict(CLI_HEADERS) if via_cli else {}
        return [
            Upstream(
                base_url=base,
                headers=headers,
                models=MODELS,
                adapter=XaiAdapter(base),
                label=account.text("email") or account.text("sub") or account.name,
            )
        ]


def _fields(answer: Mapping[str, Any], token_url: str, old: Mapping[str, Any]) -> dict[str, Any]:
    """§6's fields; identity from the id_token, else what the file knew."""
    claims = jwt_claims(text(answer, "id_token"))
    now = time.time()
    expires_in = number(answer, "expires_in") or 3600.0
    return {
        "type": "xai",
        "access_token": text(answer, "access_token"),
        "refresh_token": text(answer, "refresh_token"),
        "id_token": text(answer, "id_token"),
        "token_type": text(answer, "token_type") or "Bearer",
        "expires_in": int(expires_in),
        "expired": rfc3339(expires_at(answer, now) or now + expires_in),
        "last_refresh": rfc3339(now),
        "email": text(claims, "email") or text(old, "email"),
        "sub": text(claims, "sub") or text(old, "sub"),
        "base_url": text(old, "base_url") or API_BASE,
        "token_endpoint": token_url,
        "auth_kind": "oauth",
    }


def _new_account(answer: Mapping[str, Any], token_url: str) -> NewAccount:
    data = _fields(answer, token_url, {})
    who = data["email"] or data["sub"] or str(int(time.time() * 1000))
    return NewAccount(safe_name("xai", who), data)


PROVIDER = Xai()
