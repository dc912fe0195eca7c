"""OAuth accounts: /api/oauth/* (connect, import, list, settings, download, delete, claim)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import guard
from services.dashboard.oauth_accounts import accounts, imports, logins, proxy_files
from services.dashboard.oauth_accounts.fields import check_name, check_settings
from services.dashboard.oauth_accounts.schemas import ConnectIn, ImportIn, PasteIn
from services.dashboard.oauth_accounts.views import to_json
from services.dashboard.proxies.link import link
from services.dashboard.web import deps, rate_limit
from services.dashboard.web.inputs import body, raw_body
from services.dashboard.web.responses import ok


def _name(request: Request) -> str:
    return check_name(request.path_params["name"])


async def list_accounts(request: Request) -> Response:
    user = await guard.require_user(request)
    views = await accounts.visible(
        deps.pool(request), link(request).client, guard.actor(request, user)
    )
    return ok({"accounts": [to_json(v) for v in views]})


async def connect(request: Request) -> Response:
    user = await guard.require_user(request)
    await rate_limit.enforce(deps.pool(request), rate_limit.PROVIDER_WRITE, f"user:{user.id}")
    data = await body(request, ConnectIn)
    started = await logins.start(
        deps.pool(request), link(request).client, guard.actor(request, user), data.provider
    )
    return ok(started, 201)


async def connect_status(request: Request) -> Response:
    user = await guard.require_user(request)
    state = request.path_params["state"]
    result = await logins.status(
        deps.pool(request), link(request).client, guard.actor(request, user), state
    )
    return ok(result)


async def connect_paste(request: Request) -> Response:
    user = await guard.require_user(request)
    data = await body(request, PasteIn)
    state = request.path_params["state"]
    actor = guard.actor(request, user)
    await logins.paste(deps.pool(request), link(request).client, actor, state, data.redirectUrl)
    return ok({"status": "accepted"})


async def connect_cancel(request: Request) -> Response:
    user = await guard.require_user(request)
    state = request.path_params["state"]
    await logins.cancel(deps.pool(request), link(request).client, guard.actor(request, user), state)
    return ok({"cancelled": True})


async def import_file(request: Request) -> Response:
    user = await guard.require_user(request)
    await rate_limit.enforce(deps.pool(request), rate_limit.PROVIDER_WRITE, f"user:{user.id}")
    data = await body(request, ImportIn)
    actor = guard.actor(request, user)
    name = await imports.import_file(
        deps.pool(request), link(request).client, actor, data.fileName, data.fileContent
    )
    return ok({"name": name}, 201)


async def download(request: Request) -> Response:
    user = await guard.require_user(request)
    name = _name(request)
    data = await accounts.download(
        deps.pool(request), link(request).client, guard.actor(request, user), name
    )
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(data, media_type="application/json", headers=headers)


async def models(request: Request) -> Response:
    user = await guard.require_user(request)
    name = _name(request)
    client = link(request).client
    await accounts.manageable(deps.pool(request), client, guard.actor(request, user), name)
    return ok({"models": await proxy_files.models(client, name)})


async def update(request: Request) -> Response:
    user = await guard.require_user(request)
    name, data = _name(request), await raw_body(request)
    pool, client, actor = deps.pool(request), link(request).client, guard.actor(request, user)
    fields = check_settings(data)
    if "disabled" in data:
        await accounts.set_disabled(pool, client, actor, name, data["disabled"] is True)
    if fields:
        await accounts.update_settings(pool, client, actor, name, fields)
    return ok({"updated": True})


async def delete(request: Request) -> Response:
    user = await guard.require_user(request)
    name = _name(request)
    await accounts.delete(
        deps.pool(request), link(request).client, guard.actor(request, user), name
    )
    return ok({"deleted": True})


async def claim(request: Request) -> Response:
    user = await guard.require_user(request)
    name = _name(request)
    await accounts.claim(deps.pool(request), link(request).client, guard.actor(request, user), name)
    return ok({"claimed": True})


routes = [
    Route("/oauth/accounts", list_accounts, methods=["GET"]),
    Route("/oauth/connect", connect, methods=["POST"]),
    Route("/oauth/connect/{state}", connect_status, methods=["GET"]),
    Route("/oauth/connect/{state}", connect_cancel, methods=["DELETE"]),
    Route("/oauth/connect/{state}/callback", connect_paste, methods=["POST"]),
    Route("/oauth/import", import_file, methods=["POST"]),
    Route("/oauth/accounts/{name}", update, methods=["PATCH"]),
    Route("/oauth/accounts/{name}", delete, methods=["DELETE"]),
    Route("/oauth/accounts/{name}/download", download, methods=["GET"]),
    Route("/oauth/accounts/{name}/models", models, methods=["GET"]),
    Route("/oauth/accounts/{name}/claim", claim, methods=["POST"]),
]
