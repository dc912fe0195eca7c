"""The providers page: provider keys, custom providers (form, discovery, order) and groups."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core.crypto import CryptoError, unseal_any
from services.core.errors import AppError, ValidationFailed
from services.dashboard.accounts import guard
from services.dashboard.accounts.queries.users import User
from services.dashboard.providers import admin_settings
from services.dashboard.providers import custom as custom_providers
from services.dashboard.providers import discovery as model_discovery
from services.dashboard.providers import groups as provider_groups
from services.dashboard.providers import keys as provider_keys
from services.dashboard.providers.custom import provider_input
from services.dashboard.providers.queries import provider_groups as group_rows
from services.dashboard.providers.queries import provider_keys as key_rows
from services.dashboard.providers.queries.custom_providers import CustomProvider
from services.dashboard.providers.schemas import CustomProviderIn
from services.dashboard.providers.ssrf import stored_refusal
from services.dashboard.proxies import sync as proxy_sync
from services.dashboard.proxies.link import link
from services.dashboard.web import deps, flash, rate_limit
from services.dashboard.web.forms import form_action, is_htmx
from services.dashboard.web.inputs import parse, path_id, raw_body
from services.dashboard.web.templating import render
from services.dashboard.web.wording import plural

BACK = "/dashboard/providers"


async def providers_page(request: Request) -> Response:
    user = await guard.require_user(request)
    actor = guard.actor(request, user)
    pool = deps.pool(request)
    custom = await custom_providers.visible(pool, actor)
    async with pool.connection() as conn:
        groups = await group_rows.list_for(conn, None if user.is_admin else user.id)
        own = await key_rows.count_for(conn, user.id)
        max_keys = await admin_settings.max_provider_keys(conn)
    policy = await admin_settings.request_policy(request)
    keys = await provider_keys.list_keys(pool, actor, None)
    sizes: dict[int, int] = {}
    for p in custom:
        if p.group_id:
            sizes[p.group_id] = sizes.get(p.group_id, 0) + 1
    context = {
        "keys": keys,
        # Entries the proxies do not get because they name a refused address (saved earlier).
        "refused_keys": {k.key_hash: r for k in keys if (r := stored_refusal(policy, k.base_url))},
        "refused_custom": {
            p.id: r for p in custom if (r := stored_refusal(policy, p.base_url, p.proxy_url))
        },
        "providers": provider_keys.PROVIDERS,
        "custom": custom,
        "groups": groups,
        "group_names": {g.id: g.name for g in groups},
        "group_sizes": sizes,
        "compat_names": sorted(p.provider_id for p in custom),
        "own_key_count": own,
        "max_keys": max_keys,
    }
    return render(request, "providers.html", context, user=user, active="providers")


@form_action(BACK)
async def add_key(request: Request) -> Response:
    user = await guard.require_user(request)
    await rate_limit.enforce(deps.pool(request), rate_limit.PROVIDER_WRITE, f"user:{user.id}")
    data = await raw_body(request)
    new = provider_keys.check_new_key(
        str(data.get("provider", "")),
        str(data.get("apiKey", "")),
        str(data.get("name", "")) or None,
        str(data.get("baseUrl", "")) or None,
        str(data.get("target", "")) or None,
    )
    view = await provider_keys.add_key(
        deps.pool(request),
        link(request).sync,
        deps.settings(request).encryption_key,
        guard.actor(request, user),
        new,
    )
    return flash.redirect(request, BACK, f"Added the {view.provider} key {view.key_identifier}.")


@form_action(BACK)
async def delete_key(request: Request) -> Response:
    user = await guard.require_user(request)
    await provider_keys.delete_key(
        deps.pool(request),
        link(request).sync,
        guard.actor(request, user),
        request.path_params["keyHash"],
        None,
    )
    return flash.redirect(request, BACK, "Provider key removed.")


def _lines(text: Any) -> list[str]:
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)] if value not in (None, "") else []


def form_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The provider form's fields as the API's JSON body (CustomProviderIn)."""
    headers: dict[str, str] = {}
    for line in _lines(data.get("headersText")):
        name, sep, value = line.partition(":")
        if not sep:
            raise ValidationFailed(
                f"header line {line[:40]!r} needs 'Name: value'",
                details=[{"field": "headers", "message": "invalid"}],
            )
        headers[name.strip()] = value.strip()
    upstreams, aliases = _as_list(data.get("modelUpstream")), _as_list(data.get("modelAlias"))
    models = [
        {
            "upstreamName": u.strip(),
            "alias": (aliases[i] if i < len(aliases) else "").strip() or None,
        }
        for i, u in enumerate(upstreams)
        if u.strip()
    ]
    models += [{"upstreamName": m, "alias": None} for m in _as_list(data.get("discovered"))]
    group = str(data.get("groupId") or "").strip()
    return {
        "name": data.get("name", ""),
        "providerId": data.get("providerId", ""),
        "baseUrl": data.get("baseUrl", ""),
        "apiKey": data.get("apiKey") or None,
        "prefix": data.get("prefix") or None,
        "proxyUrl": data.get("proxyUrl") or None,
        "headers": headers,
        "models": models,
        "excludedModels": _lines(data.get("excludedText")),
        "groupId": int(group) if group.isdigit() else None,
    }


def form_values(p: CustomProvider) -> dict[str, Any]:
    return {
        "name": p.name,
        "providerId": p.provider_id,
        "baseUrl": p.base_url,
        "prefix": p.prefix,
        "proxyUrl": p.proxy_url,
        "groupId": p.group_id,
        "headersText": "\n".join(f"{k}: {v}" for k, v in p.headers.items()),
        "models": [{"upstreamName": m.upstream_name, "alias": m.alias} for m in p.models],
        "excludedText": "\n".join(p.excluded_models),
    }


def _redisplay(data: dict[str, Any]) -> dict[str, Any]:
    """What the user typed, to fill the form again after a failure."""
    try:
        fields = form_fields(data)
    except ValidationFailed:
        fields = {"models": []}
    return {
        **{
            k: data.get(k)
            for k in (
                "name",
                "providerId",
                "baseUrl",
                "apiKey",
                "prefix",
                "proxyUrl",
                "headersText",
                "excludedText",
            )
        },
        "models": fields.get("models", []),
        "groupId": fields.get("groupId"),
    }


async def _form(
    request: Request,
    user: User,
    provider: CustomProvider | None,
    form: dict[str, Any],
    **extra: Any,
) -> Response:
    async with deps.pool(request).connection() as conn:
        owner = provider.user_id if provider else user.id
        groups = await group_rows.list_for(conn, owner)
    context = {"provider": provider, "form": form, "groups": groups, **extra}
    return render(request, "custom_provider_form.html", context, user=user, active="providers")


async def _owned(request: Request, user: User, provider_id: int) -> CustomProvider:
    async with deps.pool(request).connection() as conn:
        return await custom_providers.get_owned(conn, guard.actor(request, user), provider_id)


async def new_provider_page(request: Request) -> Response:
    user = await guard.require_user(request)
    return await _form(request, user, None, {"models": []})


async def edit_provider_page(request: Request) -> Response:
    user = await guard.require_user(request)
    provider = await _owned(request, user, path_id(request))
    return await _form(request, user, provider, form_values(provider))


async def save_provider(request: Request) -> Response:
    """Create (no id) or update; a failure shows the form again with what was typed."""
    user = await guard.require_user(request)
    data = await raw_body(request)
    proxies = link(request)
    key, actor = deps.settings(request).encryption_key, guard.actor(request, user)
    provider_id = int(request.path_params["id"]) if "id" in request.path_params else None
    current = await _owned(request, user, provider_id) if provider_id else None
    try:
        fields = provider_input(parse(CustomProviderIn, form_fields(data)))
        if current is None:
            await rate_limit.enforce(
                deps.pool(request), rate_limit.PROVIDER_WRITE, f"user:{user.id}"
            )
            saved = await custom_providers.create(
                deps.pool(request), proxies.sync, key, actor, fields
            )
        else:
            saved = await custom_providers.update(
                deps.pool(request), proxies.sync, key, actor, current.id, fields
            )
    except AppError as exc:
        message = {"kind": "error", "text": exc.message}
        return await _form(request, user, current, _redisplay(data), messages=[message])
    verb = "created" if current is None else "saved"
    return flash.redirect(
        request, BACK, f"Provider “{saved.name}” {verb} and applied to the proxy."
    )


async def discover_models(request: Request) -> Response:
    user = await guard.require_user(request)
    data = await raw_body(request)
    current = None
    if request.query_params.get("id", "").isdigit():
        current = await _owned(request, user, int(request.query_params["id"]))
    base_url = str(data.get("baseUrl") or (current.base_url if current else ""))
    api_key = str(data.get("apiKey") or "")
    if not api_key and current and current.api_key_encrypted:
        try:
            api_key = unseal_any(deps.settings(request).opening_keys, current.api_key_encrypted)
        except CryptoError:
            api_key = ""
    extra: dict[str, Any] = {"discovered": []}
    try:
        await rate_limit.enforce(deps.pool(request), rate_limit.FETCH_MODELS, f"user:{user.id}")
        if not base_url or not api_key:
            raise ValidationFailed("enter the base URL and the API key first")
        extra["discovered"] = await model_discovery.fetch_models(
            base_url, api_key, await admin_settings.request_policy(request)
        )
    except AppError as exc:
        extra["discovery_error"] = f"Discovery failed: {exc.message}"
    if is_htmx(request):
        return deps.templates(request).TemplateResponse(request, "partials/discovered.html", extra)
    return await _form(request, user, current, _redisplay(data), **extra)


@form_action(BACK)
async def delete_provider(request: Request) -> Response:
    user = await guard.require_user(request)
    await custom_providers.delete(
        deps.pool(request), link(request).sync, guard.actor(request, user), path_id(request)
    )
    return flash.redirect(request, BACK, "Provider deleted and removed from the proxy.")


@form_action(BACK)
async def move_provider(request: Request) -> Response:
    user = await guard.require_user(request)
    actor = guard.actor(request, user)
    order = [p.id for p in await custom_providers.visible(deps.pool(request), actor)]
    moving = path_id(request)
    if moving in order:
        i = order.index(moving)
        j = i - 1 if (await raw_body(request)).get("direction") == "up" else i + 1
        if 0 <= j < len(order):
            order[i], order[j] = order[j], order[i]
            await custom_providers.reorder(deps.pool(request), link(request).sync, actor, order)
    return flash.redirect(request, BACK, "Order saved; the proxy list follows it.")


@form_action(BACK)
async def resync(request: Request) -> Response:
    await guard.require_user(request)
    results = await proxy_sync.resync(deps.pool(request), link(request).sync)
    failed = [r for r in results if not r.ok]
    if failed:
        return flash.redirect(
            request,
            BACK,
            "Resync failed for: " + "; ".join(f"{r.proxy} ({r.message})" for r in failed),
            "error",
        )
    done = plural(len(results), "proxy")
    return flash.redirect(request, BACK, f"Everything is in sync on {done}.")


@form_action(BACK)
async def create_group(request: Request) -> Response:
    user = await guard.require_user(request)
    data = await raw_body(request)
    name, color = provider_groups.check(
        str(data.get("name", "")), str(data.get("color", "")) or None
    )
    await provider_groups.create(deps.pool(request), guard.actor(request, user), name, color)
    return flash.redirect(request, BACK, f"Group “{name}” created.")


@form_action(BACK)
async def toggle_group(request: Request) -> Response:
    user = await guard.require_user(request)
    async with deps.pool(request).connection() as conn:
        group = await provider_groups.owned(conn, guard.actor(request, user), path_id(request))
    await provider_groups.update(
        deps.pool(request),
        link(request).sync,
        guard.actor(request, user),
        group.id,
        None,
        None,
        not group.is_active,
    )
    state = (
        "off: its providers are removed from the proxy"
        if group.is_active
        else "on: its providers are back"
    )
    return flash.redirect(request, BACK, f"Group “{group.name}” is {state}.")


@form_action(BACK)
async def delete_group(request: Request) -> Response:
    user = await guard.require_user(request)
    await provider_groups.delete(
        deps.pool(request), link(request).sync, guard.actor(request, user), path_id(request)
    )
    return flash.redirect(request, BACK, "Group deleted.")


routes = [
    Route("/dashboard/providers", providers_page, methods=["GET"]),
    Route("/dashboard/providers/keys", add_key, methods=["POST"]),
    Route("/dashboard/providers/keys/{keyHash:str}/delete", delete_key, methods=["POST"]),
    Route("/dashboard/providers/custom/new", new_provider_page, methods=["GET"]),
    Route("/dashboard/providers/custom", save_provider, methods=["POST"]),
    Route("/dashboard/providers/custom/fetch-models", discover_models, methods=["POST"]),
    Route("/dashboard/providers/custom/{id:int}", edit_provider_page, methods=["GET"]),
    Route("/dashboard/providers/custom/{id:int}", save_provider, methods=["POST"]),
    Route("/dashboard/providers/custom/{id:int}/delete", delete_provider, methods=["POST"]),
    Route("/dashboard/providers/custom/{id:int}/move", move_provider, methods=["POST"]),
    Route("/dashboard/providers/resync", resync, methods=["POST"]),
    Route("/dashboard/providers/groups", create_group, methods=["POST"]),
    Route("/dashboard/providers/groups/{id:int}/toggle", toggle_group, methods=["POST"]),
    Route("/dashboard/providers/groups/{id:int}/delete", delete_group, methods=["POST"]),
]
