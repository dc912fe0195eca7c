"""Helpers shared by the HTML form handlers: an expected failure becomes a flash message on the
page the form came from; htmx requests are told apart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response

from services.core.errors import AppError, Unauthorized
from services.dashboard.web import flash

Handler = Callable[[Request], Awaitable[Response]]


def form_action(back: str | Callable[[Request], str]) -> Callable[[Handler], Handler]:
    """A form POST handler: an expected failure returns to `back` with the message shown."""

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except AppError as exc:
                if isinstance(exc, Unauthorized) and exc.code == "auth_required":
                    raise  # not signed in: the error page sends them to the login form
                target = back(request) if callable(back) else back
                return flash.redirect(request, target, _message(exc), "error")

        return run

    return wrap


def _message(exc: AppError) -> str:
    details = exc.details if isinstance(exc.details, list) else []
    fields = [d.get("field") for d in details if isinstance(d, dict) and d.get("field")]
    if fields and not exc.message.startswith(str(fields[0])):
        return f"{exc.message} ({fields[0]})"
    return exc.message


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"
