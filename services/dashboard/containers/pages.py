"""The Containers page (admin): the stack's containers, refreshed live, their recent logs, and
start/stop/restart on the allowlist (each confirmed in a dialog and audited)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core.errors import AppError
from services.dashboard.accounts import guard
from services.dashboard.containers import actions, inventory, stack
from services.dashboard.containers.engine import docker_link
from services.dashboard.web import deps, flash
from services.dashboard.web.forms import form_action
from services.dashboard.web.inputs import check_confirmed, int_param, raw_body
from services.dashboard.web.templating import render

BACK = "/dashboard/containers"


async def _rows(request: Request) -> dict[str, object]:
    """The table's context: the containers, or why there are none to show."""
    link = docker_link(request)
    try:
        views = await link.run(lambda c: inventory.list_views(c, link.project))
    except AppError as exc:
        return {"containers": [], "problem": exc.message, "project": link.project}
    return {"containers": views, "problem": None, "project": link.project}


async def containers_page(request: Request) -> Response:
    admin = await guard.require_admin(request)
    context = await _rows(request)
    return render(request, "containers.html", context, user=admin, active="containers")


async def containers_rows(request: Request) -> Response:
    await guard.require_admin(request)
    return deps.templates(request).TemplateResponse(
        request, "partials/container_rows.html", await _rows(request)
    )


async def container_logs(request: Request) -> Response:
    admin = await guard.require_admin(request)
    name = stack.check_name(request.path_params["name"])
    lines = int_param(request, "lines", 200, 1, inventory.MAX_LOG_LINES)
    link = docker_link(request)
    text = await link.run(lambda c: inventory.recent_logs(c, link.project, name, lines))
    context = {"name": name, "lines": lines, "text": text}
    return render(request, "container_logs.html", context, user=admin, active="containers")


@form_action(BACK)
async def container_action(request: Request) -> Response:
    admin = await guard.require_admin(request)
    name = stack.check_name(request.path_params["name"])
    data = await raw_body(request)
    action = actions.check_action(data.get("action"))
    check_confirmed(data.get("confirm"))
    await actions.act(
        deps.pool(request), docker_link(request), guard.actor(request, admin), name, action
    )
    return flash.redirect(request, BACK, f"{name}: {action} done.")


routes = [
    Route("/dashboard/containers", containers_page, methods=["GET"]),
    Route("/dashboard/partials/containers", containers_rows, methods=["GET"]),
    Route("/dashboard/containers/{name}/logs", container_logs, methods=["GET"]),
    Route("/dashboard/containers/{name}/action", container_action, methods=["POST"]),
]
