"""List items as clients send them, and how they are merged into the YAML nodes on file.

Clients PUT back what GET answered: defaults filled in and computed fields (`auth-index`)
included. `compact` brings an item to the form written to the file; `merge_list` builds the new
list from the old nodes wherever they match (by value, as CLIProxyAPI does; else by the entry's
identity), so untouched items keep their quoting, comments and position.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from services.proxy.config.model import ApiKeyEntry, ModelMapping, OpenAICompatibility, ProviderKey

from .yaml_edit import assemble_seq, merge_map, take_following_lines, to_plain, to_yaml

MISSING = object()
# Fields CLIProxyAPI computes into GET answers; a client PUTting them back must not store them.
COMPUTED = frozenset({"auth-index", "auth_index"})

# Item fields that tell entries of a nested list apart, so an edited entry keeps its node.
_IDENTITY: dict[type[BaseModel], tuple[str, ...]] = {
    ProviderKey: ("api-key", "base-url"),
    OpenAICompatibility: ("name",),
    ApiKeyEntry: ("api-key",),
    ModelMapping: ("name", "alias"),
}


def field_defaults(model: type[BaseModel]) -> dict[str, tuple[Any, type[BaseModel] | None]]:
    """YAML key -> (default or MISSING, nested item model for lists of sub-models)."""
    out: dict[str, tuple[Any, type[BaseModel] | None]] = {}
    for name, field in model.model_fields.items():
        default = MISSING if field.is_required() else field.get_default(call_default_factory=True)
        nested: type[BaseModel] | None = None
        args = typing.get_args(field.annotation)
        if typing.get_origin(field.annotation) is list and args:
            candidate = args[0]
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                nested = candidate
        out[field.alias or name] = (default, nested)
    return out


def is_default(value: Any, default: Any) -> bool:
    if default is MISSING or isinstance(value, bool) != isinstance(default, bool):
        return False
    return bool(value == default)


def compact(item: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """Drop known fields equal to their default (clients PUT back what GET filled in)."""
    fields = field_defaults(model)
    out: dict[str, Any] = {}
    for key, value in item.items():
        default, nested = fields.get(key, (MISSING, None))
        if value is None or key in COMPUTED or is_default(value, default):
            continue
        if nested is not None and isinstance(value, list):
            value = [compact(v, nested) if isinstance(v, dict) else v for v in value]
        out[key] = value.strip() if isinstance(value, str) else value
    return out


def _normal(node: Any, model: type[BaseModel] | None) -> Any:
    """An item as a client would PUT it: plain, defaults and computed fields left out."""
    plain = to_plain(node)
    if isinstance(plain, str):
        return plain.strip()
    if model is not None and isinstance(plain, dict):
        return compact(plain, model)
    return plain


def _ident(item: Any, model: type[BaseModel] | None) -> tuple[str, ...] | None:
    fields = _IDENTITY.get(model) if model is not None else None
    if not fields or not isinstance(item, dict):
        return None
    return tuple(str(item.get(field) or "").strip() for field in fields)


def _first(candidates: list[Any], wanted: Any, used: set[int]) -> int | None:
    """The first unused index whose candidate equals `wanted`; it is marked used."""
    for index, candidate in enumerate(candidates):
        if index not in used and candidate == wanted:
            used.add(index)
            return index
    return None


def _match(old: CommentedSeq, new: list[Any], model: type[BaseModel] | None) -> list[int | None]:
    """For each new item, the old item whose node it keeps: an equal one, else the same entry."""
    normals = [_normal(node, model) for node in old]
    idents = [_ident(value, model) for value in normals]
    used: set[int] = set()
    found = [_first(normals, item, used) for item in new]
    for j, item in enumerate(new):
        ident = _ident(item, model)
        if found[j] is None and ident is not None:
            found[j] = _first(idents, ident, used)
    return found


def merge_field(node: CommentedMap, key: str, value: Any, nested: type[BaseModel] | None) -> None:
    """Set one field of an item, keeping the nodes of what did not change inside it."""
    old = node.get(key)
    if key in node and to_plain(old) == value:
        return
    if isinstance(value, list) and isinstance(old, CommentedSeq):
        node[key] = merge_list(old, value, nested)
    elif isinstance(value, dict) and isinstance(old, CommentedMap):
        merge_map(old, value)
    else:
        node[key] = to_yaml(value)


def _merge_item(node: CommentedMap, item: dict[str, Any], model: type[BaseModel]) -> None:
    """Make an existing item equal to `item`; fields the client left out as defaults stay."""
    fields = field_defaults(model)
    for key in [k for k in node if k not in item]:
        if compact({key: to_plain(node[key])}, model):  # a real value the client removed
            del node[key]
    for key, value in item.items():
        merge_field(node, key, value, fields.get(key, (MISSING, None))[1])


def merge_list(old: CommentedSeq, new: list[Any], model: type[BaseModel] | None) -> CommentedSeq:
    """The list `new` (normalized items) built from the old nodes where they match (CLIProxyAPI
    matches by value), so untouched items keep their quotes, comments and the lines above."""
    following = take_following_lines(old)
    picks: list[tuple[int | None, Any]] = []
    for item, index in zip(new, _match(old, new, model), strict=True):
        if index is None:
            picks.append((None, to_yaml(item)))
            continue
        node = old[index]
        if model is not None and isinstance(node, CommentedMap) and _normal(node, model) != item:
            _merge_item(node, item, model)
        picks.append((index, node))
    return assemble_seq(old, picks, following)
