"""The settings page: password change; for admins the key limit and "sign out everyone"."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import auth, guard, passwords, sessions
from services.dashboard.providers import admin_settings
from services.dashboard.web import deps, flash, rate_limit
from services.dashboard.web.forms import form_action
from services.dashboard.web.inputs import raw_body
from services.dashboard.web.templating import render
from services.dashboard.web.wording import plural

BACK = "/dashboard/settings"


async def settings_page(request: Request) -> Response:
    user = await guard.require_user(request)
    values = await admin_settings.read_all(deps.pool(request)) if user.is_admin else {}
    return render(request, "settings.html", {"settings": values}, user=user, active="settings")


def _with_session(request: Request, response: Response, token: str) -> Response:
    s = deps.settings(request)
    sessions.set_cookie(response, request, token, s.jwt_secret.get_secret_value(), s.session_days)
    return response


@form_action(BACK)
async def change_password(request: Request) -> Response:
    user = await guard.require_user(request)
    await rate_limit.enforce(deps.pool(request), rate_limit.PASSWORD, f"user:{user.id}")
    data = await raw_body(request)
    new = passwords.check_password(data.get("newPassword"), "newPassword")
    token = await auth.change_password(
        deps.pool(request),
        guard.actor(request, user),
        str(data.get("currentPassword", "")),
        new,
        deps.settings(request).session_days,
    )
    response = flash.redirect(
        request, BACK, "Password changed; your other sessions are signed out."
    )
    return _with_session(request, response, token)


@form_action(BACK)
async def save_limits(request: Request) -> Response:
    admin = await guard.require_admin(request)
    data = await raw_body(request)
    # An unticked checkbox sends nothing: for a yes/no setting that means "no".
    key, value = admin_settings.check(data.get("key"), data.get("value", ""))
    await admin_settings.write(deps.pool(request), guard.actor(request, admin), key, value)
    return flash.redirect(request, BACK, "Setting saved.")


@form_action(BACK)
async def revoke_sessions(request: Request) -> Response:
    admin = await guard.require_admin(request)
    ended, token = await auth.revoke_all_sessions(
        deps.pool(request), guard.actor(request, admin), deps.settings(request).session_days
    )
    response = flash.redirect(
        request, BACK, f"Signed out {plural(ended, 'session')}; you have a fresh one."
    )
    return _with_session(request, response, token)


routes = [
    Route("/dashboard/settings", settings_page, methods=["GET"]),
    Route("/dashboard/settings/password", change_password, methods=["POST"]),
    Route("/dashboard/settings/limits", save_limits, methods=["POST"]),
    Route("/dashboard/settings/revoke-sessions", revoke_sessions, methods=["POST"]),
]
