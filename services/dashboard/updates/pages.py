"""The Updates page (admin): the gateway image against its registry tag, the dashboard's own
version, updating (pull and recreate, confirmed), and every deploy's step log."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core.errors import NotFound
from services.dashboard.accounts import guard
from services.dashboard.containers.engine import docker_link
from services.dashboard.updates import check, service
from services.dashboard.updates.queries import deploys
from services.dashboard.web import deps, flash
from services.dashboard.web.forms import form_action
from services.dashboard.web.inputs import check_confirmed, path_id, raw_body
from services.dashboard.web.templating import render

BACK = "/dashboard/updates"


async def updates_page(request: Request) -> Response:
    admin = await guard.require_admin(request)
    async with deps.pool(request).connection() as conn:
        history = await deploys.recent(conn, 20)
    context = {
        "deploys": history,
        "version": check.dashboard_version(),
        "webhook": bool(deps.settings(request).deploy_secret),
    }
    return render(request, "updates.html", context, user=admin, active="updates")


async def check_partial(request: Request) -> Response:
    """The registry comparison, loaded after the page (a registry can take seconds)."""
    await guard.require_admin(request)
    result = await service.checks(docker_link(request))
    return deps.templates(request).TemplateResponse(
        request, "partials/update_check.html", {"checks": result}
    )


@form_action(BACK)
async def start_deploy(request: Request) -> Response:
    admin = await guard.require_admin(request)
    data = await raw_body(request)
    check_confirmed(data.get("confirm"))
    tag = check.check_tag(data["tag"]) if data.get("tag") else None
    deploy_id = await service.deployer(request).start("page", guard.actor(request, admin), tag)
    return flash.redirect(request, f"{BACK}/deploys/{deploy_id}", f"Deploy {deploy_id} started.")


async def _deploy(request: Request) -> dict[str, object]:
    async with deps.pool(request).connection() as conn:
        found = await deploys.get(conn, path_id(request))
    if found is None:
        raise NotFound("no such deploy")
    return {"deploy": found}


async def deploy_page(request: Request) -> Response:
    admin = await guard.require_admin(request)
    context = await _deploy(request)
    return render(request, "deploy.html", context, user=admin, active="updates")


async def deploy_steps(request: Request) -> Response:
    await guard.require_admin(request)
    return deps.templates(request).TemplateResponse(
        request, "partials/deploy_steps.html", await _deploy(request)
    )


routes = [
    Route("/dashboard/updates", updates_page, methods=["GET"]),
    Route("/dashboard/partials/updates/check", check_partial, methods=["GET"]),
    Route("/dashboard/updates/deploy", start_deploy, methods=["POST"]),
    Route("/dashboard/updates/deploys/{id:int}", deploy_page, methods=["GET"]),
    Route("/dashboard/partials/updates/deploys/{id:int}", deploy_steps, methods=["GET"]),
]
