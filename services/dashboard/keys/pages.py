"""The client API keys page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import guard
from services.dashboard.accounts.queries.users import User
from services.dashboard.keys import client_keys
from services.dashboard.keys.client_keys import IssuedKey
from services.dashboard.proxies.link import link
from services.dashboard.web import deps, flash, rate_limit
from services.dashboard.web.forms import form_action
from services.dashboard.web.inputs import path_id, raw_body
from services.dashboard.web.templating import render

BACK = "/dashboard/api-keys"


async def _page(request: Request, user: User, issued: IssuedKey | None = None) -> Response:
    keys = await client_keys.list_keys(deps.pool(request), user.id)
    context = {"keys": keys, "issued": issued}
    return render(request, "api_keys.html", context, user=user, active="api-keys")


async def keys_page(request: Request) -> Response:
    return await _page(request, await guard.require_user(request))


@form_action(BACK)
async def create_key(request: Request) -> Response:
    user = await guard.require_user(request)
    await rate_limit.enforce(deps.pool(request), rate_limit.KEY_CREATE, f"user:{user.id}")
    name = client_keys.check_name((await raw_body(request)).get("name"))
    issued = await client_keys.issue(
        deps.pool(request), link(request).sync, guard.actor(request, user), name
    )
    # Rendered directly (not redirected): the secret must never travel in a cookie or URL.
    return await _page(request, user, issued)


@form_action(BACK)
async def rename_key(request: Request) -> Response:
    user = await guard.require_user(request)
    name = client_keys.check_name((await raw_body(request)).get("name"))
    await client_keys.rename(deps.pool(request), guard.actor(request, user), path_id(request), name)
    return flash.redirect(request, BACK, f"Renamed to “{name}”.")


@form_action(BACK)
async def revoke_key(request: Request) -> Response:
    user = await guard.require_user(request)
    await client_keys.revoke(
        deps.pool(request), link(request).sync, guard.actor(request, user), path_id(request)
    )
    return flash.redirect(request, BACK, "Key revoked; the proxies no longer accept it.")


routes = [
    Route("/dashboard/api-keys", keys_page, methods=["GET"]),
    Route("/dashboard/api-keys", create_key, methods=["POST"]),
    Route("/dashboard/api-keys/{id:int}/rename", rename_key, methods=["POST"]),
    Route("/dashboard/api-keys/{id:int}/revoke", revoke_key, methods=["POST"]),
]
