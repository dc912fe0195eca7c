"""Pages outside the shell: setup, sign-in, sign-out, the root redirect; and the password form
of the settings page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.core.errors import AppError
from services.dashboard.accounts import auth, guard, sessions
from services.dashboard.accounts.schemas import Credentials
from services.dashboard.web import deps, flash, rate_limit
from services.dashboard.web.forms import form_action
from services.dashboard.web.inputs import parse, raw_body
from services.dashboard.web.templating import render

SETTINGS = "/dashboard/settings"


def safe_next(value: str | None) -> str:
    """Only local paths: `next` must never send the user to another site."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/dashboard"


async def root(request: Request) -> Response:
    return RedirectResponse("/dashboard", status_code=303)


async def favicon(request: Request) -> Response:
    return RedirectResponse("/static/favicon.svg", status_code=301)


def _signed_in(request: Request, target: str, token: str) -> Response:
    return sessions.with_session(request, RedirectResponse(target, status_code=303), token)


async def setup_page(request: Request) -> Response:
    if not await auth.setup_required(deps.pool(request)):
        return RedirectResponse("/login", status_code=303)
    return render(request, "setup.html", {}, user=None)


async def setup_submit(request: Request) -> Response:
    data = await raw_body(request)
    try:
        await rate_limit.enforce(
            deps.pool(request), rate_limit.SETUP, deps.client_ip(request) or "-"
        )
        creds = parse(Credentials, data)
        _, token = await auth.create_first_admin(
            deps.pool(request),
            guard.actor(request, None),
            creds.username,
            creds.password,
            deps.settings(request).session_days,
        )
    except AppError as exc:
        if exc.code == "setup_already_completed":
            return flash.redirect(
                request, "/login", "Setup is already complete; please sign in.", "info"
            )
        ctx = {
            "username": str(data.get("username", ""))[:50],
            "messages": [{"kind": "error", "text": exc.message}],
        }
        return render(request, "setup.html", ctx, user=None, status=exc.status)
    return _signed_in(request, "/dashboard", token)


async def login_page(request: Request) -> Response:
    if await auth.setup_required(deps.pool(request)):
        return RedirectResponse("/setup", status_code=303)
    if await guard.current_user(request):
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return render(request, "login.html", {"next_url": request.query_params.get("next")}, user=None)


async def login_submit(request: Request) -> Response:
    data = await raw_body(request)
    next_url = request.query_params.get("next")
    try:
        await rate_limit.enforce(
            deps.pool(request), rate_limit.LOGIN, deps.client_ip(request) or "-"
        )
        creds = parse(Credentials, data)
        _, token = await auth.sign_in(
            deps.pool(request),
            guard.actor(request, None),
            creds.username,
            creds.password,
            deps.settings(request).session_days,
        )
    except AppError as exc:
        ctx = {
            "username": str(data.get("username", ""))[:50],
            "next_url": next_url,
            "messages": [{"kind": "error", "text": exc.message}],
        }
        response = render(request, "login.html", ctx, user=None, status=exc.status)
        response.headers.update(exc.headers)
        return response
    return _signed_in(request, safe_next(next_url), token)


async def logout_submit(request: Request) -> Response:
    user = await guard.current_user(request)
    await auth.sign_out(
        deps.pool(request), guard.actor(request, user), guard.session_token(request)
    )
    response = flash.redirect(request, "/login", "You are signed out.", "info")
    sessions.clear_cookie(response)
    return response


@form_action(SETTINGS)
async def change_password(request: Request) -> Response:
    """The password form of the settings page."""
    user = await guard.require_user(request)
    await rate_limit.enforce(deps.pool(request), rate_limit.PASSWORD, f"user:{user.id}")
    data = await raw_body(request)
    token = await auth.change_password(
        deps.pool(request),
        guard.actor(request, user),
        str(data.get("currentPassword", "")),
        data.get("newPassword"),
        deps.settings(request).session_days,
    )
    response = flash.redirect(
        request, SETTINGS, "Password changed; your other sessions are signed out."
    )
    return sessions.with_session(request, response, token)


routes = [
    Route("/", root, methods=["GET"]),
    Route("/favicon.ico", favicon, methods=["GET"]),
    Route("/setup", setup_page, methods=["GET"]),
    Route("/setup", setup_submit, methods=["POST"]),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout_submit, methods=["POST"]),
    Route(f"{SETTINGS}/password", change_password, methods=["POST"]),
]
