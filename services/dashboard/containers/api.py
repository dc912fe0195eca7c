"""/api/containers (admin): list, recent logs, and `{action, confirm: true}` on the allowlist."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import guard
from services.dashboard.containers import actions, inventory, stack
from services.dashboard.containers.engine import docker_link
from services.dashboard.containers.inventory import ContainerView
from services.dashboard.web import deps
from services.dashboard.web.inputs import check_confirmed, int_param, raw_body
from services.dashboard.web.responses import ok


def _json(view: ContainerView) -> dict[str, object]:
    data = asdict(view)
    return {
        "name": data["name"],
        "id": data["short_id"],
        "service": data["service"],
        "state": data["state"],
        "health": data["health"],
        "startedAt": data["started_at"],
        "uptimeSeconds": view.uptime_s,
        "image": data["image"],
        "version": data["version"],
        "cpuPercent": data["cpu_percent"],
        "memoryBytes": data["memory_bytes"],
        "memoryLimit": data["memory_limit"],
        "actions": data["actions"],
        "controllable": data["controllable"],
    }


async def list_containers(request: Request) -> Response:
    await guard.require_admin(request)
    link = docker_link(request)
    views = await link.run(lambda c: inventory.list_views(c, link.project))
    return ok({"project": link.project, "containers": [_json(v) for v in views]})


async def container_logs(request: Request) -> Response:
    await guard.require_admin(request)
    name = stack.check_name(request.path_params["name"])
    lines = int_param(request, "lines", 200, 1, inventory.MAX_LOG_LINES)
    link = docker_link(request)
    text = await link.run(lambda c: inventory.recent_logs(c, link.project, name, lines))
    return ok({"name": name, "lines": text.splitlines()})


async def container_action(request: Request) -> Response:
    admin = await guard.require_admin(request)
    name = stack.check_name(request.path_params["name"])
    data = await raw_body(request)
    action = actions.check_action(data.get("action"))
    check_confirmed(data.get("confirm"))
    service = await actions.act(
        deps.pool(request), docker_link(request), guard.actor(request, admin), name, action
    )
    return ok({"name": name, "service": service, "action": action})


routes = [
    Route("/containers", list_containers, methods=["GET"]),
    Route("/containers/{name}/logs", container_logs, methods=["GET"]),
    Route("/containers/{name}/action", container_action, methods=["POST"]),
]
