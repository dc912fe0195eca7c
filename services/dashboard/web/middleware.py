"""ASGI middleware: request id and log context, security headers, NUL refusal, the CSRF check."""

from __future__ import annotations

import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.dashboard.web import errors
from services.dashboard.web.csrf import check_origin, origin_of, request_source

log = structlog.get_logger(__name__)


class RequestContextMiddleware:
    """Gives each request an id (echoed as X-Request-ID), binds it to logs, adds the headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in errors.SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers["X-Request-ID"] = rid
                if scope["path"].startswith("/api/") or "text/html" in headers.get(
                    "content-type", ""
                ):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=rid):
            await self.app(scope, receive, send_with_headers)


def nul_location(scope: Scope) -> str | None:
    """Where a request carries a NUL character (path, query string, a header), or None.

    Postgres text cannot hold NUL: such a value would reach the driver and fail there as a 500.
    The path is already percent-decoded by the server; `%00` is the only query spelling of NUL.
    """
    if "\x00" in scope["path"]:
        return "path"
    query = scope.get("query_string", b"")
    if b"\x00" in query or b"%00" in query:
        return "query string"
    if any(b"\x00" in value for _, value in scope.get("headers", ())):
        return "headers"
    return None


class NulGuardMiddleware:
    """Answers 400 `invalid_input` to any request with a NUL in its path, query or headers;
    bodies are checked where they are parsed (`inputs.raw_body`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        where = nul_location(scope) if scope["type"] == "http" else None
        if where is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        message = f"the request's {where} contains a NUL character"
        response = errors.render(
            request, 400, "invalid_input", message, [{"field": where, "message": "NUL"}]
        )
        await response(scope, receive, send)


class CsrfMiddleware:
    """Refuses unsafe requests whose Origin/Referer is not the dashboard's (see csrf.py)."""

    def __init__(self, app: ASGIApp, dashboard_url: str) -> None:
        self.app = app
        self.dashboard_origin = origin_of(dashboard_url) if dashboard_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        reason = self._refusal(scope, headers)
        if reason is None:
            await self.app(scope, receive, send)
            return
        log.warning("csrf_refused", path=scope["path"], reason=reason)
        request = Request(scope, receive)
        response = errors.render(request, 403, "csrf_failed", f"Request refused: {reason}")
        await response(scope, receive, send)

    def _refusal(self, scope: Scope, headers: Headers) -> str | None:
        if "authorization" in headers:  # bearer routes carry no ambient credential
            return None
        cookie_auth = "session" in cookie_parser(headers.get("cookie", ""))
        source = request_source(headers.get("origin"), headers.get("referer"))
        return check_origin(
            scope["method"], source, self._allowed(scope, headers), cookie_authenticated=cookie_auth
        )

    def _allowed(self, scope: Scope, headers: Headers) -> set[str]:
        allowed = set()
        host = headers.get("host")
        if host:
            effective = origin_of(f"{scope.get('scheme', 'http')}://{host}")
            if effective:
                allowed.add(effective)
        if self.dashboard_origin:
            allowed.add(self.dashboard_origin)
        return allowed
