"""/api/updates (admin): the image checks, starting a deploy, the deploys and their logs; and
`POST /api/deploy/webhook`, signed with DEPLOY_SECRET (absent without it)."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core.errors import NotFound
from services.dashboard.accounts import guard
from services.dashboard.containers.engine import docker_link
from services.dashboard.updates import check, service
from services.dashboard.updates.check import ImageStatus
from services.dashboard.updates.queries import deploys
from services.dashboard.updates.queries.deploys import Deploy
from services.dashboard.web import deps
from services.dashboard.web.inputs import check_confirmed, path_id, raw_body
from services.dashboard.web.responses import ok


def _status(value: ImageStatus | None) -> dict[str, object] | None:
    if value is None:
        return None
    return {**asdict(value), "update_available": value.update_available}


def _deploy(d: Deploy) -> dict[str, object]:
    return {
        "id": d.id,
        "createdAt": d.created_at,
        "trigger": d.trigger,
        "actor": d.actor,
        "image": d.image,
        "status": d.status,
        "steps": d.steps,
        "finishedAt": d.finished_at,
    }


async def get_check(request: Request) -> Response:
    await guard.require_admin(request)
    result = await service.checks(docker_link(request))
    return ok(
        {
            "gateway": _status(result.gateway),
            "dashboard": {"version": result.version, "image": _status(result.dashboard_image)},
            "problem": result.problem,
        }
    )


async def start_deploy(request: Request) -> Response:
    admin = await guard.require_admin(request)
    data = await raw_body(request)
    check_confirmed(data.get("confirm"))
    tag = check.check_tag(data["tag"]) if data.get("tag") else None
    deploy_id = await service.deployer(request).start("page", guard.actor(request, admin), tag)
    return ok({"deployId": deploy_id, "status": "running"}, 202)


async def list_deploys(request: Request) -> Response:
    await guard.require_admin(request)
    async with deps.pool(request).connection() as conn:
        rows = await deploys.recent(conn, 50)
    return ok({"deploys": [_deploy(d) for d in rows]})


async def get_deploy(request: Request) -> Response:
    await guard.require_admin(request)
    async with deps.pool(request).connection() as conn:
        found = await deploys.get(conn, path_id(request))
    if found is None:
        raise NotFound("no such deploy")
    return ok(_deploy(found))


async def deploy_webhook(request: Request) -> Response:
    deploy_id = await service.webhook_deploy(request)
    return ok({"deployId": deploy_id, "status": "running"}, 202)


routes = [
    Route("/updates/check", get_check, methods=["GET"]),
    Route("/updates/deploy", start_deploy, methods=["POST"]),
    Route("/updates/deploys", list_deploys, methods=["GET"]),
    Route("/updates/deploys/{id:int}", get_deploy, methods=["GET"]),
    Route("/deploy/webhook", deploy_webhook, methods=["POST"]),
]
