"""The bell in the header of every page: its count (polled), its list (loaded when opened) and
dismissing, for every signed-in user, each seeing only their audience's notifications."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core.errors import NotFound
from services.dashboard.accounts import guard
from services.dashboard.accounts.queries.users import User
from services.dashboard.notifications import bell
from services.dashboard.notifications.queries import notifications as store
from services.dashboard.web import deps, flash
from services.dashboard.web.forms import form_action, is_htmx
from services.dashboard.web.inputs import path_id


async def _list(request: Request, user: User) -> Response:
    async with deps.pool(request).connection() as conn:
        items = await bell.for_user(conn, user.id, user.is_admin)
    return deps.templates(request).TemplateResponse(
        request, "partials/bell_list.html", {"notifications": items}
    )


async def bell_count(request: Request) -> Response:
    user = await guard.require_user(request)
    async with deps.pool(request).connection() as conn:
        count = await store.count_visible(conn, user.id, user.is_admin)
    return deps.templates(request).TemplateResponse(
        request, "partials/bell_count.html", {"count": count}
    )


async def bell_list(request: Request) -> Response:
    return await _list(request, await guard.require_user(request))


async def _done(request: Request, user: User, text: str) -> Response:
    if is_htmx(request):
        return await _list(request, user)
    return flash.redirect(request, "/dashboard", text)


@form_action("/dashboard")
async def dismiss(request: Request) -> Response:
    user = await guard.require_user(request)
    async with deps.pool(request).connection() as conn:
        found = await store.dismiss(conn, user.id, user.is_admin, path_id(request))
    if not found:
        raise NotFound("no such notification")
    return await _done(request, user, "Notification dismissed.")


@form_action("/dashboard")
async def dismiss_all(request: Request) -> Response:
    user = await guard.require_user(request)
    async with deps.pool(request).connection() as conn:
        await store.dismiss_all(conn, user.id, user.is_admin)
    return await _done(request, user, "Notifications dismissed.")


routes = [
    Route("/dashboard/partials/notifications/count", bell_count, methods=["GET"]),
    Route("/dashboard/partials/notifications", bell_list, methods=["GET"]),
    Route("/dashboard/notifications/{id:int}/dismiss", dismiss, methods=["POST"]),
    Route("/dashboard/notifications/dismiss-all", dismiss_all, methods=["POST"]),
]
