"""Browser sessions: a random token in a signed `session` cookie, its sha256 row in Postgres."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from itsdangerous import BadSignature, Signer
from starlette.requests import Request
from starlette.responses import Response

from services.core.db import Connection
from services.dashboard.accounts.queries import sessions as session_rows
from services.dashboard.accounts.queries.users import User
from services.dashboard.web import deps
from services.dashboard.web.secrets_display import digest

COOKIE = "session"
R = TypeVar("R", bound=Response)
_SALT = "dashboard-session"


def _signer(secret: str) -> Signer:
    return Signer(secret, salt=_SALT, sep=".")


def token_from_cookie(cookie: str | None, secret: str) -> str | None:
    """The session token inside a cookie value, or None when absent or badly signed."""
    if not cookie:
        return None
    try:
        return _signer(secret).unsign(cookie).decode("ascii")
    except (BadSignature, UnicodeDecodeError):
        return None


async def user_for(conn: Connection, token: str) -> User | None:
    user = await session_rows.user_of(conn, digest(token))
    if user is not None:
        await session_rows.touch(conn, digest(token))
    return user


async def start(
    conn: Connection, user: User, days: int, ip: str | None, user_agent: str | None
) -> str:
    """Create a session row and return the token the cookie will carry."""
    token = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(days=days)
    await session_rows.create(conn, digest(token), user.id, expires, ip, user_agent)
    return token


async def end(conn: Connection, token: str) -> None:
    await session_rows.revoke(conn, digest(token))


def set_cookie(response: Response, request: Request, token: str, secret: str, days: int) -> None:
    """HttpOnly, SameSite=Lax, Secure when the dashboard is reached over HTTPS."""
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE,
        _signer(secret).sign(token).decode("ascii"),
        max_age=days * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def with_session(request: Request, response: R, token: str) -> R:
    """`response`, carrying the session cookie of `token` (JWT_SECRET, SESSION_DAYS)."""
    s = deps.settings(request)
    set_cookie(response, request, token, s.jwt_secret.get_secret_value(), s.session_days)
    return response


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
