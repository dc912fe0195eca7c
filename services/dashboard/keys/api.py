"""Client API keys of the signed-in user: /api/user/api-keys."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core.errors import ValidationFailed
from services.dashboard.accounts import guard
from services.dashboard.keys import client_keys
from services.dashboard.keys.queries.api_keys import ApiKey
from services.dashboard.keys.schemas import KeyCreate, KeyRename
from services.dashboard.proxies.link import link
from services.dashboard.web import deps, rate_limit
from services.dashboard.web.inputs import body, path_id, path_or_query_id
from services.dashboard.web.responses import ok
from services.dashboard.web.secrets_display import masked_prefix


def key_json(key: ApiKey) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "keyPreview": masked_prefix(key.display_prefix),
        "createdAt": key.created_at,
        "lastUsedAt": key.last_used_at,
        "revokedAt": key.revoked_at,
        "active": key.revoked_at is None,
    }


async def list_keys(request: Request) -> Response:
    user = await guard.require_user(request)
    keys = await client_keys.list_keys(deps.pool(request), user.id)
    return ok([key_json(k) for k in keys])


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
]
