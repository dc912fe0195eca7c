"""Client API keys of the signed-in user: /api/user/api-keys (each with the limits in force);
their limits, set by an admin: /api/admin/api-keys/{id}/limits, /api/admin/key-limit-defaults."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core.errors import ValidationFailed
from services.dashboard.accounts import guard
from services.dashboard.keys import client_keys, key_limits
from services.dashboard.keys.queries.api_keys import ApiKey
from services.dashboard.keys.schemas import KeyCreate, KeyRename
from services.dashboard.proxies.link import link
from services.dashboard.web import deps, rate_limit
from services.dashboard.web.inputs import body, path_id, path_or_query_id, raw_body
from services.dashboard.web.responses import ok
from services.dashboard.web.secrets_display import masked_prefix


def key_json(key: ApiKey, limits: dict[str, object] | None = None) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "keyPreview": masked_prefix(key.display_prefix),
        "createdAt": key.created_at,
        "lastUsedAt": key.last_used_at,
        "revokedAt": key.revoked_at,
        "active": key.revoked_at is None,
        "limits": limits or {},
    }


async def list_keys(request: Request) -> Response:
    user = await guard.require_user(request)
    keys = await client_keys.list_keys(deps.pool(request), user.id)
    limits = await key_limits.in_force(deps.pool(request), user)
    return ok([key_json(k, limits.get(k.id)) for k in keys])


async def put_key_limits(request: Request) -> Response:
    """Admin only: one key's own limits (`{}`: its owner's role default applies)."""
    admin = await guard.require_admin(request)
    data = await raw_body(request)
    limits = key_limits.check_limits(data.get("limits", data))
    key_id = path_id(request)
    await key_limits.set_for_key(
        deps.pool(request), link(request).sync, guard.actor(request, admin), key_id, limits
    )
    return ok({"id": key_id, "limits": limits})


async def get_limit_defaults(request: Request) -> Response:
    await guard.require_admin(request)
    return ok({"defaults": await key_limits.role_defaults(deps.pool(request))})


async def put_limit_defaults(request: Request) -> Response:
    admin = await guard.require_admin(request)
    data = await raw_body(request)
    defaults = key_limits.check_role_defaults(data.get("defaults", data))
    await key_limits.set_role_defaults(
        deps.pool(request), link(request).sync, guard.actor(request, admin), defaults
    )
    return ok({"defaults": defaults})


async def create_key(request: Request) -> Response:
    user = await guard.require_user(request)
    await rate_limit.enforce(deps.pool(request), rate_limit.KEY_CREATE, f"user:{user.id}")
    data = await body(request, KeyCreate)
    name = client_keys.check_name(data.name, default="Default")
    issued = await client_keys.issue(
        deps.pool(request), link(request).sync, guard.actor(request, user), name
    )
    # The only time the key itself is ever sent: the caller must copy it now.
    return ok({**key_json(issued.key), "key": issued.secret}, status=201)


async def rename_key(request: Request) -> Response:
    user = await guard.require_user(request)
    data = await body(request, KeyRename)
    key_id = path_id(request) if "id" in request.path_params else data.id
    if key_id is None:
        raise ValidationFailed("id is required", details=[{"field": "id", "message": "required"}])
    key = await client_keys.rename(
        deps.pool(request), guard.actor(request, user), key_id, client_keys.check_name(data.name)
    )
    return ok(key_json(key))


async def revoke_key(request: Request) -> Response:
    user = await guard.require_user(request)
    key_id = path_or_query_id(request, "id")
    await client_keys.revoke(
        deps.pool(request), link(request).sync, guard.actor(request, user), key_id
    )
    return ok({"revoked": key_id})


routes = [
    Route("/user/api-keys", list_keys, methods=["GET"]),
    Route("/user/api-keys", create_key, methods=["POST"]),
    Route("/user/api-keys", rename_key, methods=["PATCH"]),
    Route("/user/api-keys", revoke_key, methods=["DELETE"]),
    Route("/user/api-keys/{id:int}", rename_key, methods=["PATCH"]),
    Route("/user/api-keys/{id:int}", revoke_key, methods=["DELETE"]),
    Route("/admin/api-keys/{id:int}/limits", put_key_limits, methods=["PUT"]),
    Route("/admin/key-limit-defaults", get_limit_defaults, methods=["GET"]),
    Route("/admin/key-limit-defaults", put_limit_defaults, methods=["PUT"]),
]
