"""The per-channel maps `oauth-excluded-models` and `oauth-model-alias`.

PUT takes the whole map (or `{"items": map}`); PATCH sets one channel (`{provider, models}` /
`{channel, aliases}`; an empty list removes it); DELETE `?provider=` / `?channel=` removes one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from ruamel.yaml.comments import CommentedMap

from services.core.errors import BadRequest, NotFound

from .bodies import read_json, read_object
from .config_routes import OK, config_as_json
from .context import ManagementContext
from .middleware import json_response, setting_routes
from .yaml_edit import child_map, keep_trailing_comments, merge_map, to_yaml

log = structlog.get_logger(__name__)

Normalizer = Callable[[Any], list[Any]]


def _excluded_models(value: Any) -> list[Any]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest("invalid body: models must be a list of strings")
    seen: dict[str, None] = {}
    for model in value:
        if model.strip():
            seen.setdefault(model.strip(), None)
    return list(seen)


def _aliases(value: Any) -> list[Any]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadRequest("invalid body: aliases must be a list of objects")
    out = []
    for entry in value:
        name, alias = entry.get("name"), entry.get("alias")
        if not isinstance(name, str) or not isinstance(alias, str):
            raise BadRequest("invalid body: every alias needs string name and alias")
        if not name.strip() or not alias.strip():
            raise BadRequest("invalid body: every alias needs a non-empty name and alias")
        item = {**entry, "name": name.strip(), "alias": alias.strip()}
        # false flags are the default; leaving them out keeps config.yaml short
        out.append({k: v for k, v in item.items() if v is not False and v is not None})
    return out


@dataclass(frozen=True, slots=True)
class MapSpec:
    key: str
    channel_params: tuple[str, ...]  # body/query names of the channel, first preferred
    list_field: str  # body field with the channel's list on PATCH
    normalize: Normalizer


MAPS = (
    MapSpec("oauth-excluded-models", ("provider",), "models", _excluded_models),
    MapSpec("oauth-model-alias", ("channel", "provider"), "aliases", _aliases),
)


def _channel(raw: Any) -> str:
    return raw.strip().lower() if isinstance(raw, str) else ""


def _whole_map(spec: MapSpec, body: Any) -> dict[str, list[Any]]:
    if isinstance(body, dict) and set(body) == {"items"} and isinstance(body["items"], dict):
        body = body["items"]
    if not isinstance(body, dict):
        raise BadRequest("invalid body: expected a JSON object keyed by channel")
    out: dict[str, list[Any]] = {}
    for raw_channel, value in body.items():
        channel, items = _channel(raw_channel), spec.normalize(value)
        if channel and items:
            out[channel] = items
    return out


def _replace_map(spec: MapSpec, new: dict[str, list[Any]]) -> Callable[[CommentedMap], None]:
    def mutate(doc: CommentedMap) -> None:
        with keep_trailing_comments(doc, spec.key):
            merge_map(child_map(doc, spec.key), new)

    return mutate


def _set_channel(spec: MapSpec, channel: str, items: list[Any]) -> Callable[[CommentedMap], None]:
    def mutate(doc: CommentedMap) -> None:
        with keep_trailing_comments(doc, spec.key):
            node = child_map(doc, spec.key)
            if items:
                with keep_trailing_comments(node, channel):
                    node[channel] = to_yaml(items)
            elif channel in node:
                del node[channel]
            else:
                raise NotFound(f"{spec.channel_params[0]} not found")

    return mutate


def _map_routes(ctx: ManagementContext, spec: MapSpec) -> list[web.RouteDef]:
    limit = ctx.limits.json_body_max_bytes
    label = spec.channel_params[0]

    async def get_map(_request: web.Request) -> web.Response:
        return json_response({spec.key: config_as_json(ctx.store).get(spec.key) or {}})

    async def put_map(request: web.Request) -> web.Response:
        new = _whole_map(spec, await read_json(request, limit))
        await ctx.store.edit(_replace_map(spec, new))
        log.info("management_map_replaced", setting=spec.key, channels=len(new))
        return json_response(OK)

    async def patch_map(request: web.Request) -> web.Response:
        body = await read_object(request, limit)
        channel = next((_channel(body[p]) for p in spec.channel_params if p in body), "")
        if not channel:
            raise BadRequest(f"invalid {label}")
        items = spec.normalize(body.get(spec.list_field) or [])
        await ctx.store.edit(_set_channel(spec, channel, items))
        log.info("management_map_patched", setting=spec.key, channel=channel)
        return json_response(OK)

    async def delete_channel(request: web.Request) -> web.Response:
        channel = next(
            (_channel(request.query[p]) for p in spec.channel_params if p in request.query), ""
        )
        if not channel:
            raise BadRequest(f"missing {label}")
        await ctx.store.edit(_set_channel(spec, channel, []))
        log.info("management_map_channel_deleted", setting=spec.key, channel=channel)
        return json_response(OK)

    return setting_routes(spec.key, get_map, put_map, patch_map, delete_channel)


def map_routes(ctx: ManagementContext) -> list[web.RouteDef]:
    return [route for spec in MAPS for route in _map_routes(ctx, spec)]
