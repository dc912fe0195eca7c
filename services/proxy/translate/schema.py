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
_GEMINI_FORMATS = {"string": {"enum", "date-time"}, "integer": {"int32", "int64"}}
_GEMINI_FORMATS["number"] = {"float", "double"}
_MAX_DEPTH = 32


def for_gemini(schema: Json) -> Json:
    """A copy of `schema` that Gemini's `parameters` accepts (local $refs are inlined)."""
    defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    cleaned = _clean(schema, defs, 0)
    if cleaned.get("type") == "object" and not cleaned.get("properties"):
        cleaned.pop("properties", None)
        cleaned.pop("required", None)
    return cleaned


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
        elif key in _GEMINI_KEYS:
            out[key] = value
    _fix_type(out)
    _fix_enum_and_format(out)
    required = out.get("required")
    if isinstance(required, list):
        props = out.get("properties") or {}
        out["required"] = [r for r in required if r in props]
        if not out["required"]:
            del out["required"]
    return out


def _fix_type(out: Json) -> None:
    kind = out.get("type")
    if isinstance(kind, list):
        others = [k for k in kind if k != "null"]
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
