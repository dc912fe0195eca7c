"""The list settings: `api-keys`, the provider key lists and `openai-compatibility`.

Conventions (CLIProxyAPI's): PUT takes the whole array or `{"items": [...]}`; PATCH takes
`{index, value}`, `{old, new}` (strings) or `{match, value}` (objects, `value` merged into the
item); DELETE takes `?index=`, `?value=` (strings) or `?api-key=[&base-url=]` / `?name=`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import ScalarString

from services.core.errors import BadRequest, NotFound
from services.proxy.config.model import OpenAICompatibility, ProviderKey

from .bodies import query_int, read_json, read_object
from .config_routes import OK, config_as_json
from .context import ManagementContext
from .list_items import (
    COMPUTED,
    MISSING,
    compact,
    field_defaults,
    is_default,
    merge_field,
    merge_list,
)
from .middleware import json_response, setting_routes
from .yaml_edit import (
    assemble_seq,
    child_seq,
    keep_trailing_comments,
    take_following_lines,
    to_plain,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ListSpec:
    """One list setting; `model` is None for a list of strings."""

    key: str
    model: type[BaseModel] | None
    identity: tuple[str, ...] = ()  # item fields that tell entries apart

    @property
    def match_field(self) -> str:
        return self.identity[0]


LISTS = (
    ListSpec("api-keys", None),
    ListSpec("gemini-api-key", ProviderKey, ("api-key", "base-url")),
    ListSpec("claude-api-key", ProviderKey, ("api-key", "base-url")),
    ListSpec("codex-api-key", ProviderKey, ("api-key", "base-url")),
    ListSpec("vertex-api-key", ProviderKey, ("api-key", "base-url")),
    ListSpec("openai-compatibility", OpenAICompatibility, ("name",)),
)


def _items_of(body: Any) -> list[Any]:
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        body = body["items"]
    if not isinstance(body, list):
        raise BadRequest('invalid body: expected an array or {"items": [...]}')
    return body


def _identity(spec: ListSpec, item: Any) -> tuple[str, ...]:
    plain = to_plain(item) if isinstance(item, dict) else {}
    return tuple(str(plain.get(field) or "").strip() for field in spec.identity)


def _strings(items: list[Any]) -> list[str]:
    if not all(isinstance(v, str) for v in items):
        raise BadRequest("invalid body: api-keys must be strings")
    return [v.strip() for v in items if v.strip()]


def _objects(spec: ListSpec, items: list[Any]) -> list[dict[str, Any]]:
    assert spec.model is not None
    if not all(isinstance(v, dict) for v in items):
        raise BadRequest(f"invalid body: {spec.key} items must be objects")
    return [compact(v, spec.model) for v in items]


def _current_seq(doc: CommentedMap, key: str) -> CommentedSeq:
    old = doc.get(key)
    return old if isinstance(old, CommentedSeq) else CommentedSeq()


def _replace_all(spec: ListSpec, body: Any) -> Callable[[CommentedMap], None]:
    items = _items_of(body)
    values: list[Any] = _strings(items) if spec.model is None else _objects(spec, items)

    def mutate(doc: CommentedMap) -> None:
        with keep_trailing_comments(doc, spec.key):
            doc[spec.key] = merge_list(_current_seq(doc, spec.key), values, spec.model)

    return mutate


def _rewrite(doc: CommentedMap, key: str, edit: Callable[[CommentedSeq], list[int]]) -> None:
    """Edit the list in place (`edit` returns the indexes to keep), comments kept in place."""
    with keep_trailing_comments(doc, key):
        seq = child_seq(doc, key)
        following = take_following_lines(seq)
        kept = edit(seq)
        known = len(following)  # items `edit` appended have no old place
        picks = [(i if i < known else None, seq[i]) for i in kept]
        doc[key] = assemble_seq(seq, picks, following)


def _like(old: Any, new: str) -> Any:
    """`new` written in the quoting style of the value it replaces."""
    return type(old)(new) if isinstance(old, ScalarString) else new


def _index_of(body: dict[str, Any], size: int) -> int | None:
    index = body.get("index")
    if index is None:
        return None
    if not isinstance(index, int) or isinstance(index, bool):
        raise BadRequest("invalid index: not an integer")
    if not 0 <= index < size:
        raise NotFound("item not found")
    return index


def _patch_string(body: dict[str, Any]) -> Callable[[CommentedMap], None]:
    def edit(seq: CommentedSeq) -> list[int]:
        index = _index_of(body, len(seq)) if "value" in body else None
        if index is not None and isinstance(body["value"], str):
            seq[index] = _like(seq[index], body["value"].strip())
        elif isinstance(body.get("old"), str) and isinstance(body.get("new"), str):
            old, new = body["old"].strip(), body["new"].strip()
            current = [str(v).strip() for v in seq]
            if old in current:
                seq[current.index(old)] = _like(seq[current.index(old)], new)
            else:
                seq.append(new)  # CLIProxyAPI: an unknown old key adds the new one
        else:
            raise BadRequest("missing fields: expected {index, value} or {old, new}")
        return list(range(len(seq)))

    return lambda doc: _rewrite(doc, "api-keys", edit)


def _match_index(spec: ListSpec, seq: CommentedSeq, match: str, base_url: str | None) -> int:
    found = [
        i
        for i, node in enumerate(seq)
        if _identity(spec, node)[0] == match
        and (base_url is None or _identity(spec, node)[1] == base_url.strip())
    ]
    if not found:
        raise NotFound("item not found")
    if len(found) > 1:
        hint = "index" if base_url is not None or len(spec.identity) < 2 else "base-url"
        raise BadRequest(f"multiple items match; {hint} is required")
    return found[0]


def _apply_patch(spec: ListSpec, node: Any, value: dict[str, Any]) -> None:
    assert spec.model is not None
    if not isinstance(node, CommentedMap):
        raise BadRequest(f"{spec.key} item is not a mapping in config.yaml")
    fields = field_defaults(spec.model)
    for key, new in value.items():
        default, nested = fields.get(key, (MISSING, None))
        if key in COMPUTED:
            continue
        if new is None or is_default(new, default):
            node.pop(key, None)
        else:
            merge_field(node, key, compact({key: new}, spec.model)[key], nested)


def _patch_object(
    spec: ListSpec, body: dict[str, Any], base_url: str | None
) -> Callable[[CommentedMap], None]:
    value = body.get("value")
    if not isinstance(value, dict):
        raise BadRequest("invalid body: value must be an object")
    match = body.get("match", body.get(spec.match_field))
    if body.get("index") is None and not isinstance(match, str):
        raise BadRequest(f"invalid body: expected index or match ({spec.match_field})")

    def edit(seq: CommentedSeq) -> list[int]:
        index = _index_of(body, len(seq))
        if index is None:
            assert isinstance(match, str)
            index = _match_index(spec, seq, match.strip(), base_url)
        _apply_patch(spec, seq[index], value)
        return list(range(len(seq)))

    return lambda doc: _rewrite(doc, spec.key, edit)


def _delete(spec: ListSpec, request: web.Request) -> Callable[[CommentedMap], None]:
    query = request.query
    if spec.model is None:
        target = query.get("value", "").strip()
    else:
        target = query.get(spec.match_field, "").strip()
    base_url = query.get("base-url") if len(spec.identity) > 1 else None
    index = query_int(request, "index", -1) if "index" in query else None
    if not target and index is None:
        param = "value" if spec.model is None else spec.match_field
        raise BadRequest(f"missing {param} or index")

    def edit(seq: CommentedSeq) -> list[int]:
        if target and spec.model is None:
            doomed = [i for i, v in enumerate(seq) if str(v).strip() == target]
        elif target:
            doomed = [_match_index(spec, seq, target, base_url)]
        else:
            assert index is not None
            doomed = [index] if 0 <= index < len(seq) else []
        if not doomed:
            raise NotFound("item not found")
        return [i for i in range(len(seq)) if i not in doomed]

    return lambda doc: _rewrite(doc, spec.key, edit)


def _list_routes(ctx: ManagementContext, spec: ListSpec) -> list[web.RouteDef]:
    limit = ctx.limits.json_body_max_bytes

    async def get_list(_request: web.Request) -> web.Response:
        return json_response({spec.key: config_as_json(ctx.store).get(spec.key) or []})

    async def put_list(request: web.Request) -> web.Response:
        await ctx.store.edit(_replace_all(spec, await read_json(request, limit)))
        log.info("management_list_replaced", setting=spec.key)
        return json_response(OK)

    async def patch_list(request: web.Request) -> web.Response:
        body = await read_object(request, limit)
        if spec.model is None:
            mutate = _patch_string(body)
        else:
            mutate = _patch_object(spec, body, request.query.get("base-url"))
        await ctx.store.edit(mutate)
        log.info("management_list_patched", setting=spec.key)
        return json_response(OK)

    async def delete_item(request: web.Request) -> web.Response:
        await ctx.store.edit(_delete(spec, request))
        log.info("management_list_item_deleted", setting=spec.key)
        return json_response(OK)

    return setting_routes(spec.key, get_list, put_list, patch_list, delete_item)


def list_routes(ctx: ManagementContext) -> list[web.RouteDef]:
    return [route for spec in LISTS for route in _list_routes(ctx, spec)]
