"""`POST /api-call`: an upstream request on behalf of one credential, with `$TOKEN$` substituted.

The target must be one of that credential's own hosts (its base URL, or its provider's official
API hosts), redirects are not followed, and the reply is capped in size and time, so the route
cannot be turned into a general-purpose fetcher. Neither `$TOKEN$` nor the secret is ever logged:
log lines name the host only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import structlog
from aiohttp import web
from yarl import URL

from services.core.errors import AppError, BadRequest, Forbidden, NotFound, UpstreamError

from ..oauth.provider import LoginError
from ..upstream.sessions import (
    BodyTooLarge,
    is_direct,
    read_capped,
    socks_connector,
    upstream_session,
)
from .bodies import read_object
from .context import CredentialInfo, ManagementContext
from .middleware import MANAGEMENT_PREFIX, json_response

log = structlog.get_logger(__name__)

TOKEN = "$TOKEN$"  # noqa: S105  # the placeholder clients write, not a secret
_GOOGLE_CLOUD_CODE = ("cloudcode-pa.googleapis.com",)
# The official API hosts each credential kind may reach besides its own base URL.
PROVIDER_HOSTS: Mapping[str, tuple[str, ...]] = {
    "claude": ("api.anthropic.com", "console.anthropic.com"),
    "gemini": ("generativelanguage.googleapis.com", *_GOOGLE_CLOUD_CODE),
    "gemini-cli": ("generativelanguage.googleapis.com", *_GOOGLE_CLOUD_CODE),
    "codex": ("api.openai.com", "chatgpt.com"),
    "vertex": ("aiplatform.googleapis.com",),
    "antigravity": (
        *_GOOGLE_CLOUD_CODE,
        "daily-cloudcode-pa.googleapis.com",
        "daily-cloudcode-pa.sandbox.googleapis.com",
    ),
    "kimi": ("api.kimi.com",),
    "openai-compatibility": (),  # its base-url host only
}
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})


class GatewayTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


@dataclass(frozen=True, slots=True)
class ApiCall:
    auth_index: str
    method: str
    url: str
    headers: dict[str, str]
    data: str | None
    proxy_url: str | None


def _origin(url: URL) -> tuple[str, str, int | None]:
    return (url.scheme.lower(), (url.host or "").lower().rstrip("."), url.port)


def allowed_origins(credential: CredentialInfo) -> set[tuple[str, str, int | None]]:
    """(scheme, host, port) a credential may call: its base URL and its provider's hosts."""
    origins: set[tuple[str, str, int | None]] = {
        ("https", host, 443) for host in PROVIDER_HOSTS.get(credential.kind, ())
    }
    origins |= {("https", host, 443) for host in credential.hosts}
    if credential.base_url:
        with contextlib.suppress(ValueError):
            base = URL(credential.base_url)
            if base.scheme in {"http", "https"} and base.host:
                origins.add(_origin(base))
    return origins


def checked_target(url: str, credential: CredentialInfo) -> URL:
    """The parsed URL when it points at one of the credential's hosts; Forbidden otherwise."""
    try:
        target = URL(url)
    except (ValueError, TypeError):
        raise BadRequest("invalid url") from None
    if target.scheme not in {"http", "https"} or not target.host or target.user is not None:
        raise BadRequest("invalid url: expected an absolute http(s) URL without credentials")
    if _origin(target) not in allowed_origins(credential):
        raise Forbidden("url host is not one of this credential's provider hosts")
    return target


def parse_call(body: dict[str, Any]) -> ApiCall:
    index = body.get("auth_index", body.get("authIndex", body.get("auth-index")))
    if not isinstance(index, str) or not index.strip():
        raise BadRequest("invalid body: auth_index is required")
    method = body.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise BadRequest("invalid method")
    url = body.get("url")
    if not isinstance(url, str) or not url.strip():
        raise BadRequest("invalid body: url is required")
    headers = body.get("header", body.get("headers")) or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise BadRequest("invalid body: header must map names to strings")
    data = body.get("data")
    if data is not None and not isinstance(data, str):
        data = orjson.dumps(data).decode()
    proxy_url = body.get("proxy_url", body.get("proxyUrl"))
    if proxy_url is not None and not isinstance(proxy_url, str):
        raise BadRequest("invalid proxy_url")
    return ApiCall(index.strip(), method.upper(), url.strip(), headers, data, proxy_url)


def _substituted(call: ApiCall, secret: str) -> tuple[str, dict[str, str], str | None]:
    headers = {k: v.replace(TOKEN, secret) for k, v in call.headers.items()}
    data = call.data.replace(TOKEN, secret) if call.data is not None else None
    return call.url.replace(TOKEN, secret), headers, data


@contextlib.asynccontextmanager
async def _session_for(
    ctx: ManagementContext, proxy_url: str
) -> AsyncIterator[tuple[aiohttp.ClientSession, str | None]]:
    """The shared session (optionally through an HTTP proxy), or a one-off one for SOCKS."""
    if is_direct(proxy_url):
        yield ctx.http_session(), None
    elif proxy_url.lower().startswith("socks"):
        async with upstream_session(socks_connector(proxy_url)) as session:
            yield session, None
    else:
        yield ctx.http_session(), proxy_url


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    try:
        return await read_capped(response, max_bytes)
    except BodyTooLarge:
        raise UpstreamError(f"upstream response exceeds {max_bytes} bytes") from None


async def _secret(ctx: ManagementContext, auth_index: str, credential: CredentialInfo) -> str:
    """The key, or an OAuth account's current token (refreshed first when about to expire)."""
    if not credential.oauth or ctx.oauth is None:
        return credential.secret
    try:
        token = await ctx.oauth.token_for(auth_index)
    except LoginError:
        raise BadRequest("auth token refresh failed") from None
    if not token:
        raise BadRequest("auth token not found")
    return token


async def perform(ctx: ManagementContext, call: ApiCall) -> dict[str, Any]:
    credential = ctx.credential_for(call.auth_index)
    if credential is None:
        raise NotFound("auth not found")
    checked_target(call.url, credential)  # the template, before any secret is in it
    secret = await _secret(ctx, call.auth_index, credential)
    url, headers, data = _substituted(call, secret)
    target = checked_target(url, credential)  # a secret must not be able to change the host
    proxy = call.proxy_url if call.proxy_url is not None else credential.proxy_url
    timeout = aiohttp.ClientTimeout(total=ctx.limits.api_call_timeout)
    try:
        async with (
            _session_for(ctx, proxy or "") as (session, http_proxy),
            session.request(
                call.method,
                target,
                headers=headers,
                data=data.encode() if data is not None else None,
                proxy=http_proxy,
                allow_redirects=False,
                timeout=timeout,
            ) as response,
        ):
            raw = await _read_capped(response, ctx.limits.api_call_max_bytes)
            reply_headers: dict[str, list[str]] = {}
            for name, value in response.headers.items():
                reply_headers.setdefault(str(name), []).append(value)
            status = response.status
    except TimeoutError:
        raise GatewayTimeout("upstream request timed out") from None
    except (aiohttp.ClientError, ValueError) as exc:
        # The exception text can contain the substituted URL, so only its type is reported.
        raise UpstreamError(f"upstream request failed: {type(exc).__name__}") from None
    log.info(
        "management_api_call",
        auth_index=call.auth_index,
        method=call.method,
        host=target.host,
        status=status,
    )
    return {"status_code": status, "header": reply_headers, "body": raw.decode("utf-8", "replace")}


def api_call_routes(ctx: ManagementContext) -> list[web.RouteDef]:
    async def post_api_call(request: web.Request) -> web.Response:
        call = parse_call(await read_object(request, ctx.limits.json_body_max_bytes))
        try:
            return json_response(await perform(ctx, call))
        except AppError as exc:
            log.info(
                "management_api_call_refused",
                auth_index=call.auth_index,
                method=call.method,
                status=exc.status,
            )
            raise

    return [web.post(f"{MANAGEMENT_PREFIX}/api-call", post_api_call)]
