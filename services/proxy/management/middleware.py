"""The gate in front of `/v0/management/*`: availability, CORS, caller checks, error shape.

Errors are CLIProxyAPI's `{"error": "<message>"}`; a rejected config is
`{"error": "invalid_config", "message": "..."}` (the Management Center reads `message` first).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from services.core.errors import AppError, Forbidden

from .context import ManagementContext
from .guard import ManagementGuard, is_local_network, presented_key

log = structlog.get_logger(__name__)

MANAGEMENT_PREFIX = "/v0/management"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CORS_PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    # Listed explicitly: browsers do not let `*` cover Authorization.
    "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Management-Key",
    "Access-Control-Max-Age": "600",
}
_EXPOSED = "X-CPA-VERSION, X-CPA-BUILD-DATE, X-CPA-SUPPORT-PLUGIN"
# Codes whose error body keeps CLIProxyAPI's `{"error": code, "message": ...}` shape.
_CODED_ERRORS = frozenset({"invalid_config"})


# The pasted-redirect route needs no key: its `state` is the secret (CLIProxyAPI's rule).
KEYLESS_PATHS = frozenset({f"{MANAGEMENT_PREFIX}/oauth-callback"})


def is_management_path(path: str) -> bool:
    return path == MANAGEMENT_PREFIX or path.startswith(MANAGEMENT_PREFIX + "/")


def json_response(payload: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def setting_routes(
    key: str, get: Handler, put: Handler, patch: Handler, delete: Handler
) -> list[web.RouteDef]:
    """GET, PUT, PATCH and DELETE of one config setting at `/v0/management/<key>`."""
    path = f"{MANAGEMENT_PREFIX}/{key}"
    return [
        web.get(path, get),
        web.put(path, put),
        web.patch(path, patch),
        web.delete(path, delete),
    ]


def error_response(exc: AppError) -> web.Response:
    if exc.code in _CODED_ERRORS:
        body: dict[str, object] = {"error": exc.code, "message": exc.message}
    else:
        body = {"error": exc.message}
    if isinstance(exc.details, dict):
        body.update(exc.details)
    response = json_response(body, exc.status)
    response.headers.update(exc.headers)
    return response


def management_middleware(ctx: ManagementContext) -> Middleware:
    """aiohttp middleware guarding every `/v0/management` path; other paths pass through."""
    guard = ManagementGuard(
        ctx.clock, threshold=ctx.limits.ban_threshold, ban_seconds=ctx.limits.ban_seconds
    )

    @web.middleware
    async def management_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_management_path(request.path):
            return await handler(request)
        expected = ctx.management_key()
        if not expected:
            # Without a key the API does not exist, exactly as if the routes were never added.
            return json_response({"error": "not found"}, 404)
        if request.method == "OPTIONS":
            response: web.StreamResponse = web.Response(status=204, headers=_CORS_PREFLIGHT)
        else:
            response = await _authorised(request, handler, guard, expected, ctx)
        _decorate(request, response, ctx)
        return response

    return management_gate


async def _authorised(
    request: web.Request,
    handler: Handler,
    guard: ManagementGuard,
    expected: str,
    ctx: ManagementContext,
) -> web.StreamResponse:
    try:
        provided = presented_key(
            request.headers.get("Authorization"), request.headers.get("X-Management-Key")
        )
        allow_remote = ctx.store.current.config.remote_management.allow_remote
        if request.path in KEYLESS_PATHS:
            if not allow_remote and not is_local_network(request.remote or ""):
                raise Forbidden("remote management disabled")
        else:
            guard.check(request.remote or "", provided, expected, allow_remote=allow_remote)
        return await handler(request)
    except AppError as exc:
        if exc.status >= 500:
            log.error("management_request_failed", path=request.path, error=exc.message)
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_response({"error": (exc.reason or "error").lower()}, exc.status)
    except Exception:
        log.exception("management_request_crashed", path=request.path, method=request.method)
        return json_response({"error": "internal error"}, 500)


def _decorate(request: web.Request, response: web.StreamResponse, ctx: ManagementContext) -> None:
    response.headers["X-CPA-Version"] = ctx.version
    if ctx.build_date:
        response.headers["X-CPA-Build-Date"] = ctx.build_date
    response.headers.setdefault("Cache-Control", "no-store")
    origin = request.headers.get("Origin")
    if origin:
        # Echoing is safe: no cookies are involved, the key travels in a header.
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = _EXPOSED
        response.headers["Vary"] = "Origin"
