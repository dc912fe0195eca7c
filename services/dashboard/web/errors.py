"""The one place that shapes errors: JSON under /api/, an HTML page elsewhere.

`{"error": {"code", "message", "details"}}` for the API; pages get `error.html`, and a 401 on a
page becomes a redirect to the login form. Unexpected exceptions become a 500 carrying the
request id, with the traceback logged once.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from services.core.errors import AppError, Unauthorized
from services.dashboard.web.responses import OrjsonResponse

log = structlog.get_logger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def request_id(request: Request) -> str:
    rid = request.scope.setdefault("state", {}).get("request_id")
    return str(rid) if rid else uuid.uuid4().hex


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def render(
    request: Request, status: int, code: str, message: str, details: object = None
) -> Response:
    """Build the error answer for `request` in the shape its caller expects."""
    if wants_json(request):
        body = {"error": {"code": code, "message": message, "details": details}}
        return OrjsonResponse(body, status_code=status)
    if status == 401:
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303)
    templates: Jinja2Templates = request.app.state.templates
    context = {
        "status": status,
        "code": code,
        "message": message,
        "request_id": request_id(request),
    }
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


async def render_app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    response = render(request, exc.status, exc.code, exc.message, exc.details)
    response.headers.update(exc.headers)
    if isinstance(exc, Unauthorized) and exc.code == "auth_required" and wants_json(request):
        response.delete_cookie("session", path="/")
    return response


async def render_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(
        exc.status_code, "http_error"
    )
    response = render(request, exc.status_code, code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def render_unexpected(request: Request, exc: Exception) -> Response:
    """500 with the request id; the traceback is logged here and nowhere else."""
    rid = request_id(request)
    log.error("unhandled_exception", request_id=rid, path=request.url.path, exc_info=exc)
    message = f"Internal error (request id {rid})"
    try:
        response = render(request, 500, "internal_error", message, {"requestId": rid})
    except Exception:  # the error page itself failed: fall back to plain JSON
        response = OrjsonResponse({"error": {"code": "internal_error", "message": message}}, 500)
    # This answer is sent by Starlette's outermost middleware, past our header middleware.
    response.headers.update(SECURITY_HEADERS)
    response.headers["X-Request-ID"] = rid
    return response
