"""Tool-parameter schemas: cleaning JSON Schema down to what Gemini's `parameters` accepts,
and reading Gemini's OpenAPI-style schemas (upper-case types) back into JSON Schema.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

# The OpenAPI subset Gemini's `Schema` object takes; everything else is rejected with a 400.
_GEMINI_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
_GEMINI_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
_GEMINI_FORMATS = {"string": {"enum", "date-time"}, "integer": {"int32", "int64"}}
_GEMINI_FORMATS["number"] = {"float", "double"}
_MAX_DEPTH = 32
# Keys whose value is a schema or a list of them: copied only through _clean, never raw.
_STRUCTURED = frozenset({"properties", "items", "anyOf"})


def for_gemini(schema: Json) -> Json:
    """A copy of `schema` that Gemini's `parameters` accepts (local $refs are inlined)."""
    defs = {**_dict(schema.get("definitions")), **_dict(schema.get("$defs"))}
    cleaned = _clean(schema, defs, 0)
    if cleaned.get("type") == "object" and not cleaned.get("properties"):
        cleaned.pop("properties", None)
        cleaned.pop("required", None)
    return cleaned


def _dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _clean(node: Any, defs: Json, depth: int) -> Json:
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return {}
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        merged = {**(target if isinstance(target, dict) else {}), **node}
        merged.pop("$ref")
        return _clean(merged, defs, depth + 1)
    out: Json = {}
    for key, value in node.items():
        if key in ("properties",) and isinstance(value, dict):
            out[key] = {k: _clean(v, defs, depth + 1) for k, v in value.items()}
        elif key == "items":
            out[key] = _clean(value if isinstance(value, dict) else {}, defs, depth + 1)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            out["anyOf"] = [_clean(v, defs, depth + 1) for v in value]
        elif key == "allOf" and isinstance(value, list):
            for sub in value:
                for k, v in _clean(sub, defs, depth + 1).items():
                    out.setdefault(k, v)
        elif key == "const":
            out["enum"] = [str(value)]
        elif key in _GEMINI_KEYS and key not in _STRUCTURED:
            out[key] = value
    _fix_type(out)
    _fix_enum_and_format(out)
    _fix_shape(out)
    return out


def _fix_shape(out: Json) -> None:
    """Gemini refuses an empty `properties`, an array without `items`, `required` names that
    are not properties, and empty `enum`/`anyOf` lists."""
    if "properties" in out and not out["properties"]:
        del out["properties"]
    if out.get("type") == "array" and "items" not in out:
        out["items"] = {"type": "string"}  # what Gemini assumes an untyped array holds
    for key in ("enum", "anyOf"):
        if key in out and not out[key]:
            del out[key]
    required = out.pop("required", None)
    if isinstance(required, list):
        props = out.get("properties") or {}
        kept = [r for r in required if isinstance(r, str) and r in props]
        if kept:
            out["required"] = kept


def _fix_type(out: Json) -> None:
    kind = out.get("type")
    if kind == "null":
        out["type"], out["nullable"] = "string", True
    elif isinstance(kind, str) and kind.lower() not in _GEMINI_TYPES:
        del out["type"]  # "any" and other types Gemini does not know
    elif kind is not None and not isinstance(kind, str | list):
        del out["type"]
    if isinstance(kind, list):
        others = [k for k in kind if isinstance(k, str) and k.lower() in _GEMINI_TYPES]
        if len(others) < len(kind):
            out["nullable"] = True
        if len(others) == 1:
            out["type"] = others[0]
        elif others:
            del out["type"]
            out["anyOf"] = [{"type": k} for k in others]
        else:
            out["type"] = "string"
    if "anyOf" in out and len(out["anyOf"]) == 1 and "type" not in out:
        out.update(out.pop("anyOf")[0])


def _fix_enum_and_format(out: Json) -> None:
    enum = out.get("enum")
    if isinstance(enum, list):
        out["enum"] = [str(v) for v in enum if v is not None]
        out["type"] = "string"
    fmt = out.get("format")
    if fmt is not None and fmt not in _GEMINI_FORMATS.get(str(out.get("type")), set()):
        del out["format"]


def from_gemini(schema: Any) -> Json:
    """Gemini schemas may spell types in upper case (`OBJECT`); JSON Schema wants lower case."""
    if not isinstance(schema, dict):
        return {"type": "object", "properties": {}}
    return _lower(schema, 0)


def _lower(node: Json, depth: int) -> Json:
    if depth > _MAX_DEPTH:
        return {}
    out: Json = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key == "properties" and isinstance(value, dict):
            out[key] = {
                k: _lower(v, depth + 1) if isinstance(v, dict) else v for k, v in value.items()
            }
        elif key == "items" and isinstance(value, dict):
            out[key] = _lower(value, depth + 1)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [_lower(v, depth + 1) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def object_schema(schema: Any) -> Json:
    """Anthropic and OpenAI want an object schema for tool arguments; fill in a missing one."""
    if not isinstance(schema, dict) or not schema:
        return {"type": "object", "properties": {}}
    if "type" not in schema:
        return {"type": "object", **schema}
    return schema
