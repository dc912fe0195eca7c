"""Provider keys, custom providers, groups and resync: /api/providers/*, /api/custom-providers,
/api/provider-groups."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core.crypto import CryptoError, unseal_any
from services.core.errors import ValidationFailed
from services.dashboard.accounts import guard
from services.dashboard.providers import admin_settings
from services.dashboard.providers import custom as custom_providers
from services.dashboard.providers import discovery as model_discovery
from services.dashboard.providers import groups as provider_groups
from services.dashboard.providers import keys as provider_keys
from services.dashboard.providers.custom import provider_input, to_json
from services.dashboard.providers.keys import KeyView
from services.dashboard.providers.schemas import (
    CustomProviderIn,
    FetchModelsIn,
    GroupIn,
    GroupOrder,
    GroupPatch,
    ProviderKeyIn,
    ProviderOrder,
)
from services.dashboard.proxies import sync as proxy_sync
from services.dashboard.proxies.link import link
from services.dashboard.web import deps, rate_limit
from services.dashboard.web.inputs import body, parse, path_id, raw_body
from services.dashboard.web.responses import ok


def key_view_json(view: KeyView) -> dict[str, object]:
    return {
        "provider": view.provider,
        "keyHash": view.key_hash,
        "keyIdentifier": view.key_identifier,
        "name": view.name,
        "isOwn": view.is_own,
        "owner": view.owner,
        "baseUrl": view.base_url,
        "target": view.target,
        "createdAt": view.created_at,
    }


async def list_provider_keys(request: Request) -> Response:
    user = await guard.require_user(request)
    provider = request.query_params.get("provider") or None
    if provider and provider not in provider_keys.PROVIDERS:
        raise ValidationFailed(
            "unknown provider", details=[{"field": "provider", "message": "unknown"}]
        )
    views = await provider_keys.list_keys(deps.pool(request), guard.actor(request, user), provider)
    return ok({"keys": [key_view_json(v) for v in views]})


async def add_provider_key(request: Request) -> Response:
    user = await guard.require_user(request)
    await rate_limit.enforce(deps.pool(request), rate_limit.PROVIDER_WRITE, f"user:{user.id}")
    data = await body(request, ProviderKeyIn)
    new = provider_keys.check_new_key(
        data.provider, data.apiKey, data.name, data.baseUrl, data.target
    )
    view = await provider_keys.add_key(
        deps.pool(request),
        link(request).sync,
        deps.settings(request).encryption_key,
        guard.actor(request, user),
        new,
    )
    return ok(
        {"keyHash": view.key_hash, "keyIdentifier": view.key_identifier, "provider": view.provider},
        201,
    )


async def delete_provider_key(request: Request) -> Response:
    user = await guard.require_user(request)
    await provider_keys.delete_key(
        deps.pool(request),
        link(request).sync,
        guard.actor(request, user),
        request.path_params["keyHash"],
        request.query_params.get("provider") or None,
    )
    return ok({"deleted": True})


async def list_custom(request: Request) -> Response:
    user = await guard.require_user(request)
    providers = await custom_providers.visible(deps.pool(request), guard.actor(request, user))
    return ok({"providers": [to_json(p) for p in providers]})


async def create_custom(request: Request) -> Response:
    user = await guard.require_user(request)
    await rate_limit.enforce(deps.pool(request), rate_limit.PROVIDER_WRITE, f"user:{user.id}")
    data = provider_input(await body(request, CustomProviderIn))
    created = await custom_providers.create(
        deps.pool(request),
        link(request).sync,
        deps.settings(request).encryption_key,
        guard.actor(request, user),
        data,
    )
    return ok(
        {"provider": to_json(created), "syncStatus": "ok", "syncMessage": "applied to every proxy"},
        201,
    )


async def get_custom(request: Request) -> Response:
    user = await guard.require_user(request)
    async with deps.pool(request).connection() as conn:
        provider = await custom_providers.get_owned(
            conn, guard.actor(request, user), path_id(request)
        )
    return ok({"provider": to_json(provider)})


async def update_custom(request: Request) -> Response:
    user = await guard.require_user(request)
    actor = guard.actor(request, user)
    raw = await raw_body(request)
    async with deps.pool(
        request
    ).connection() as conn:  # PATCH: unspecified fields stay as they are
        current = await custom_providers.get_owned(conn, actor, path_id(request))
    data = provider_input(parse(CustomProviderIn, {**to_json(current), "apiKey": None, **raw}))
    updated = await custom_providers.update(
        deps.pool(request),
        link(request).sync,
        deps.settings(request).encryption_key,
        guard.actor(request, user),
        path_id(request),
        data,
    )
    return ok(
        {"provider": to_json(updated), "syncStatus": "ok", "syncMessage": "applied to every proxy"}
    )


async def delete_custom(request: Request) -> Response:
    user = await guard.require_user(request)
    await custom_providers.delete(
        deps.pool(request), link(request).sync, guard.actor(request, user), path_id(request)
    )
    return ok({"deleted": True})


async def fetch_models(request: Request) -> Response:
    user = await guard.require_user(request)
    await rate_limit.enforce(deps.pool(request), rate_limit.FETCH_MODELS, f"user:{user.id}")
    data = await body(request, FetchModelsIn)
    base_url, api_key = data.baseUrl, data.apiKey
    if data.customProviderId is not None:  # editing: reuse the stored key, never sent back
        async with deps.pool(request).connection() as conn:
            stored = await custom_providers.get_owned(
                conn, guard.actor(request, user), data.customProviderId
            )
        base_url = base_url or stored.base_url
        if not api_key and stored.api_key_encrypted:
            try:
                api_key = unseal_any(deps.settings(request).opening_keys, stored.api_key_encrypted)
            except CryptoError:
                api_key = None
    if not base_url or not api_key:
        raise ValidationFailed(
            "baseUrl and apiKey are required", details=[{"field": "apiKey", "message": "required"}]
        )
    models = await model_discovery.fetch_models(
        base_url, api_key, await admin_settings.request_policy(request)
    )
    return ok({"models": models})


async def reorder_custom(request: Request) -> Response:
    user = await guard.require_user(request)
    data = await body(request, ProviderOrder)
    await custom_providers.reorder(
        deps.pool(request), link(request).sync, guard.actor(request, user), data.providerIds
    )
    return ok({"providerIds": data.providerIds})


async def resync(request: Request) -> Response:
    await guard.require_user(request)
    results = await proxy_sync.resync(deps.pool(request), link(request).sync)
    status = 200 if all(r.ok for r in results) else 207
    return ok(
        {"results": [{"proxy": r.proxy, "ok": r.ok, "message": r.message} for r in results]}, status
    )


async def list_groups(request: Request) -> Response:
    user = await guard.require_user(request)
    return ok(await provider_groups.overview(deps.pool(request), guard.actor(request, user)))


async def create_group(request: Request) -> Response:
    user = await guard.require_user(request)
    await rate_limit.enforce(deps.pool(request), rate_limit.PROVIDER_WRITE, f"user:{user.id}")
    data = await body(request, GroupIn)
    name, color = provider_groups.check(data.name, data.color)
    group_id = await provider_groups.create(
        deps.pool(request), guard.actor(request, user), name, color
    )
    return ok({"id": group_id, "name": name, "color": color, "isActive": True}, 201)


async def update_group(request: Request) -> Response:
    user = await guard.require_user(request)
    data = await body(request, GroupPatch)
    await provider_groups.update(
        deps.pool(request),
        link(request).sync,
        guard.actor(request, user),
        path_id(request),
        data.name,
        data.color,
        data.isActive,
    )
    return ok({"updated": True})


async def delete_group(request: Request) -> Response:
    user = await guard.require_user(request)
    await provider_groups.delete(
        deps.pool(request), link(request).sync, guard.actor(request, user), path_id(request)
    )
    return ok({"deleted": True})


async def reorder_groups(request: Request) -> Response:
    user = await guard.require_user(request)
    data = await body(request, GroupOrder)
    await provider_groups.reorder(deps.pool(request), guard.actor(request, user), data.groupIds)
    return ok({"groupIds": data.groupIds})


routes = [
    Route("/providers/keys", list_provider_keys, methods=["GET"]),
    Route("/providers/keys", add_provider_key, methods=["POST"]),
    Route("/providers/keys/{keyHash:str}", delete_provider_key, methods=["DELETE"]),
    Route("/custom-providers", list_custom, methods=["GET"]),
    Route("/custom-providers", create_custom, methods=["POST"]),
    Route("/custom-providers/fetch-models", fetch_models, methods=["POST"]),
    Route("/custom-providers/reorder", reorder_custom, methods=["PUT"]),
    Route("/custom-providers/resync", resync, methods=["POST"]),
    Route("/custom-providers/{id:int}", get_custom, methods=["GET"]),
    Route("/custom-providers/{id:int}", update_custom, methods=["PATCH", "PUT"]),
    Route("/custom-providers/{id:int}", delete_custom, methods=["DELETE"]),
    Route("/provider-groups", list_groups, methods=["GET"]),
    Route("/provider-groups", create_group, methods=["POST"]),
    Route("/provider-groups/reorder", reorder_groups, methods=["PUT"]),
    Route("/provider-groups/{id:int}", update_group, methods=["PATCH"]),
    Route("/provider-groups/{id:int}", delete_group, methods=["DELETE"]),
]
