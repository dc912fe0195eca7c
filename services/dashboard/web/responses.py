"""JSON responses of the API: `{"data": ...}` on success, serialized with orjson."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default, option=orjson.OPT_NON_STR_KEYS)


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A success answer: every API route wraps its payload as `{"data": ...}`."""
    return OrjsonResponse({"data": data}, status_code=status, headers=headers)
