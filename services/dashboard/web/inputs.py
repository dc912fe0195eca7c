"""Request bodies: JSON or form data, validated by pydantic into ValidationFailed details."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request

from services.core.errors import BadRequest, ValidationFailed

M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    """Base of the API's request bodies: unknown fields ignored, strings capped."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_max_length=10_000)


async def raw_body(request: Request) -> dict[str, Any]:
    """The body as a dict: parsed JSON, or form fields (repeated fields become lists).

    A NUL character anywhere in it is a 400: Postgres text cannot store one."""
    data = await _parsed_body(request)
    if _has_nul(data):
        raise BadRequest(
            "the body contains a NUL character",
            code="invalid_input",
            details=[{"field": "body", "message": "NUL"}],
        )
    return data


def _has_nul(data: Any) -> bool:
    """True when any string (key or value) in parsed JSON or form data holds a NUL. Iterative:
    JSON nests deeper than Python's recursion limit."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


async def _parsed_body(request: Request) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        try:
            data = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError as exc:
            raise BadRequest("the body is not valid JSON", code="invalid_json") from exc
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object", code="invalid_json")
        return data
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        out: dict[str, Any] = {}
        for key in form:
            values = [v for v in form.getlist(key) if isinstance(v, str)]
            out[key] = (
                values if len(values) > 1 or key.endswith("[]") else (values[0] if values else "")
            )
        return out
    if not await request.body():
        return {}
    raise BadRequest("send JSON (application/json) or a form", code="unsupported_media_type")


def parse(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]}
            for err in exc.errors()
        ]
        first = details[0]
        raise ValidationFailed(f"{first['field']}: {first['message']}", details=details) from exc


async def body(request: Request, model: type[M]) -> M:
    return parse(model, await raw_body(request))


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ValidationFailed(
            f"{name} must be a whole number from {low} to {high}",
            details=[{"field": name, "message": "out of range"}],
        )
    return value


def path_or_query_id(request: Request, query_name: str) -> int:
    """`{id}` of the path, else the query parameter `query_name` (the seed's DELETE ?id= form)."""
    raw = request.path_params.get("id", request.query_params.get(query_name))
    try:
        return int(str(raw))
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(
            f"{query_name} is required", details=[{"field": query_name, "message": "required"}]
        ) from exc


MAX_ID = 2**63 - 1  # Postgres bigint: a larger id would fail in the driver as a 500


def path_id(request: Request, name: str = "id") -> int:
    try:
        value = int(request.path_params[name])
    except (KeyError, ValueError) as exc:
        raise ValidationFailed(f"{name} must be a number") from exc
    if not 0 < value <= MAX_ID:
        raise ValidationFailed(f"{name} is out of range")
    return value


def check_confirmed(value: object) -> None:
    """Destructive actions carry `confirm: true` (a form's checkbox, or JSON)."""
    if value not in (True, "true", "on", "1"):
        raise ValidationFailed(
            "confirm the action (confirm: true)",
            code="confirmation_required",
            details=[{"field": "confirm", "message": "required"}],
        )
