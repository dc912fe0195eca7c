"""One-shot messages shown on the next page after a redirect, in a signed cookie."""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

COOKIE = "flash"


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="dashboard-flash")


def redirect(request: Request, url: str, text: str, kind: str = "success") -> RedirectResponse:
    """303 to `url` that shows `text` there once (never put secrets in a flash)."""
    response = RedirectResponse(url, status_code=303)
    secret = request.app.state.settings.jwt_secret.get_secret_value()
    value = _serializer(secret).dumps([{"kind": kind, "text": text}])
    response.set_cookie(COOKIE, value, max_age=60, path="/", httponly=True, samesite="lax")
    return response


def read(request: Request) -> list[dict[str, Any]]:
    """Messages waiting for this request (the page clears the cookie with `clear`)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return []
    secret = request.app.state.settings.jwt_secret.get_secret_value()
    try:
        messages = _serializer(secret).loads(raw)
    except BadSignature:
        return []
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def clear(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")
