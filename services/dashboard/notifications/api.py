"""/api/notifications: the signed-in user's bell as JSON, and dismissing."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core.errors import NotFound
from services.dashboard.accounts import guard
from services.dashboard.notifications import bell
from services.dashboard.notifications.queries import notifications as store
from services.dashboard.web import deps
from services.dashboard.web.inputs import path_id
from services.dashboard.web.responses import ok


async def list_notifications(request: Request) -> Response:
    user = await guard.require_user(request)
    async with deps.pool(request).connection() as conn:
        items = await bell.for_user(conn, user.id, user.is_admin)
    rows = [
        {
            "id": n.id,
            "key": n.dedupe_key,
            "severity": n.severity,
            "title": n.title,
            "body": n.body,
            "link": n.link,
            "createdAt": n.created_at,
            "resolvedAt": n.resolved_at,
        }
        for n in items
    ]
    return ok({"notifications": rows, "open": sum(1 for n in items if n.resolved_at is None)})


async def dismiss(request: Request) -> Response:
    user = await guard.require_user(request)
    notification_id = path_id(request)
    async with deps.pool(request).connection() as conn:
        if not await store.dismiss(conn, user.id, user.is_admin, notification_id):
            raise NotFound("no such notification")
    return ok({"dismissed": notification_id})


async def dismiss_all(request: Request) -> Response:
    user = await guard.require_user(request)
    async with deps.pool(request).connection() as conn:
        count = await store.dismiss_all(conn, user.id, user.is_admin)
    return ok({"dismissed": count})


routes = [
    Route("/notifications", list_notifications, methods=["GET"]),
    Route("/notifications/{id:int}/dismiss", dismiss, methods=["POST"]),
    Route("/notifications/dismiss-all", dismiss_all, methods=["POST"]),
]
