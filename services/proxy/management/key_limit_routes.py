"""`/v0/management/api-key-limits`: the per-client-key limits (docs/limits.md).

GET answers `{"api-key-limits": {entry: limits}}`; PUT takes the whole map (or
`{"items": map}`); PATCH `{key, limits}` sets one entry (limits that limit nothing remove it);
DELETE `?key=` removes one. Entries are named like `api-keys` entries (`sha256:<hex>` or the
key itself) or `*`, the default of every key without an entry of its own. Every entry is
validated before anything is written, and written without its zero fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from services.core.errors import BadRequest, NotFound

from ..config.model import KeyLimits
from .bodies import read_json, read_object
from .config_routes import OK, config_as_json
from .context import ManagementContext
from .middleware import json_response, setting_routes
from .yaml_edit import child_map, keep_trailing_comments, merge_map, to_yaml

log = structlog.get_logger(__name__)

KEY = "api-key-limits"


def _entry_name(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise BadRequest("invalid key: expected a non-empty string")
    return raw.strip()


def _limits(name: str, value: Any) -> dict[str, Any]:
    """The entry as written to config.yaml: validated, zero fields left out."""
    try:
        limits = KeyLimits.model_validate(value if value is not None else {})
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise BadRequest(f"invalid limits for {name!r}: {where}: {problem['msg']}") from None
    return limits.model_dump(by_alias=True, exclude_defaults=True)


def _whole_map(body: Any) -> dict[str, dict[str, Any]]:
    if isinstance(body, dict) and set(body) == {"items"} and isinstance(body["items"], dict):
        body = body["items"]
    if not isinstance(body, dict):
        raise BadRequest("invalid body: expected a JSON object keyed by client key")
    entries = {_entry_name(name): _limits(name, value) for name, value in body.items()}
    return {name: limits for name, limits in entries.items() if limits}


def _replace(new: dict[str, dict[str, Any]]) -> Callable[[CommentedMap], None]:
    def mutate(doc: CommentedMap) -> None:
        with keep_trailing_comments(doc, KEY):
            merge_map(child_map(doc, KEY), new)

    return mutate


def _set_entry(name: str, limits: dict[str, Any]) -> Callable[[CommentedMap], None]:
    def mutate(doc: CommentedMap) -> None:
        with keep_trailing_comments(doc, KEY):
            node = child_map(doc, KEY)
            if limits:
                node[name] = to_yaml(limits)
            elif name in node:
                del node[name]
            else:
                raise NotFound("key not found")

    return mutate


def key_limit_routes(ctx: ManagementContext) -> list[web.RouteDef]:
    size = ctx.limits.json_body_max_bytes

    async def get_limits(_request: web.Request) -> web.Response:
        return json_response({KEY: config_as_json(ctx.store).get(KEY) or {}})

    async def put_limits(request: web.Request) -> web.Response:
        new = _whole_map(await read_json(request, size))
        await ctx.store.edit(_replace(new))
        log.info("management_key_limits_replaced", entries=len(new))
        return json_response(OK)

    async def patch_limits(request: web.Request) -> web.Response:
        body = await read_object(request, size)
        name = _entry_name(body.get("key"))
        await ctx.store.edit(_set_entry(name, _limits(name, body.get("limits"))))
        log.info("management_key_limits_patched")
        return json_response(OK)

    async def delete_limits(request: web.Request) -> web.Response:
        name = _entry_name(request.query.get("key"))
        await ctx.store.edit(_set_entry(name, {}))
        log.info("management_key_limits_deleted")
        return json_response(OK)

    return setting_routes(KEY, get_limits, put_limits, patch_limits, delete_limits)
