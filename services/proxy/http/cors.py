"""CORS for the inference routes browsers call (`/v1/*`, `/v1beta/*`), as CLIProxyAPI's CORS
middleware does: every response, success, error or stream, allows any origin, and a preflight
answers 204 without authentication.

`*` is safe: no cookies are involved, the client key travels in a header. The headers are one
constant block added when a response is prepared (its headers are about to be sent), to
requests that carry `Origin`: browsers always send it on a cross-origin call, SDKs and CLIs
never do, so their responses cost one header lookup and carry no extra bytes.
`/v0/management` has its own CORS in `management.middleware` (the origin is echoed and the
Management Center's version headers are exposed).
"""

from __future__ import annotations

from aiohttp import web

BROWSER_PREFIXES = ("/v1/", "/v1beta/")

RESPONSE_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    # Readable by browser code: the id to quote in a bug report, and when to retry after a 429.
    "Access-Control-Expose-Headers": "X-Request-Id, Retry-After",
}
PREFLIGHT_HEADERS = {
    **RESPONSE_HEADERS,
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    # `*` covers what SDKs add in browsers (x-stainless-*, x-goog-api-client,
    # anthropic-dangerous-direct-browser-access); Authorization must be named explicitly.
    "Access-Control-Allow-Headers": (
        "Authorization, Content-Type, X-Api-Key, X-Goog-Api-Key, Anthropic-Version, "
        "Anthropic-Beta, OpenAI-Beta, *"
    ),
    "Access-Control-Max-Age": "600",
}


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare` hook: the constant CORS block on every browser-route response."""
    if "Origin" in request.headers and request.path.startswith(BROWSER_PREFIXES):
        response.headers.update(RESPONSE_HEADERS)


async def preflight(_request: web.Request) -> web.Response:
    return web.Response(status=204, headers=PREFLIGHT_HEADERS)


def install_cors(app: web.Application) -> None:
    app.on_response_prepare.append(add_cors_headers)
    app.add_routes([web.options(f"{prefix}{{tail:.*}}", preflight) for prefix in BROWSER_PREFIXES])
