"""The client API keys page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import guard
from services.dashboard.accounts.queries.users import User
from services.dashboard.keys import client_keys, key_limits
from services.dashboard.keys.client_keys import IssuedKey
from services.dashboard.proxies.link import link
from services.dashboard.web import deps, flash, rate_limit
from services.dashboard.web.forms import form_action
from services.dashboard.web.inputs import path_id, raw_body
from services.dashboard.web.templating import render

BACK = "/dashboard/api-keys"


async def _page(request: Request, user: User, issued: IssuedKey | None = None) -> Response:
    keys = await client_keys.list_keys(deps.pool(request), user.id)
    in_force = await key_limits.in_force(deps.pool(request), user)
    limits = {key_id: key_limits.describe(value) for key_id, value in in_force.items()}
    context = {"keys": keys, "issued": issued, "limits": limits}
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


LIMITS_PAGE = "/dashboard/key-limits"


async def limits_page(request: Request) -> Response:
    """Admin only: every active key's limits, and the defaults per role."""
    user = await guard.require_admin(request)
    keys, defaults = await key_limits.overview(deps.pool(request))
    context = {
        "keys": keys,
        "defaults": defaults,
        "roles": key_limits.ROLES,
        "in_force": {k.id: key_limits.effective(k.limits, k.role, defaults) for k in keys},
        "describe": key_limits.describe,
    }
    return render(request, "key_limits.html", context, user=user, active="key-limits")


@form_action(LIMITS_PAGE)
async def set_key_limits(request: Request) -> Response:
    admin = await guard.require_admin(request)
    form = await raw_body(request)
    limits = {} if form.get("use-default") else key_limits.from_form(form)
    await key_limits.set_for_key(
        deps.pool(request),
        link(request).sync,
        guard.actor(request, admin),
        path_id(request),
        limits,
    )
    return flash.redirect(request, LIMITS_PAGE, "Limits saved and sent to the proxies.")


@form_action(LIMITS_PAGE)
async def set_role_default(request: Request) -> Response:
    admin = await guard.require_admin(request)
    form = await raw_body(request)
    role = str(form.get("role", ""))
    pool = deps.pool(request)
    _, defaults = await key_limits.overview(pool)
    defaults = key_limits.check_role_defaults({**defaults, role: key_limits.from_form(form)})
    await key_limits.set_role_defaults(
        pool, link(request).sync, guard.actor(request, admin), defaults
    )
    return flash.redirect(request, LIMITS_PAGE, f"Default limits of the {role} role saved.")


routes = [
    Route(LIMITS_PAGE, limits_page, methods=["GET"]),
    Route(LIMITS_PAGE + "/defaults", set_role_default, methods=["POST"]),
    Route(LIMITS_PAGE + "/{id:int}", set_key_limits, methods=["POST"]),
    Route("/dashboard/api-keys", keys_page, methods=["GET"]),
    Route("/dashboard/api-keys", create_key, methods=["POST"]),
    Route("/dashboard/api-keys/{id:int}/rename", rename_key, methods=["POST"]),
    Route("/dashboard/api-keys/{id:int}/revoke", revoke_key, methods=["POST"]),
]
