"""Pydantic's validation errors as one clear sentence that names the field, e.g.
`messages.0.content: Input should be a valid string or an array`.

Pydantic reports a union's failure once per member, with the member's label in the location
(`content.str`, `content.list[...]`, a tag such as `text`); those labels are not part of the
body, so the path is rebuilt by walking the body itself. Of several errors, the one that got
deepest into the body is the most specific.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_core import ErrorDetails

_CODES = {
    "missing": "missing_required_parameter",
    "literal_error": "invalid_value",
}
_WORDS = (
    ("a valid dictionary or object to extract fields from", "an object"),
    ("a valid dictionary", "an object"),
    ("a valid list", "an array"),
)


@dataclass(frozen=True, slots=True)
class Problem:
    param: str  # dotted path into the body, e.g. "messages.0.content"
    message: str
    code: str

    def sentence(self) -> str:
        return f"{self.param}: {self.message}" if self.param else self.message


def first_problem(errors: list[ErrorDetails], body: Any) -> Problem:
    """The one error to report of pydantic's (non-empty) list."""
    located = [(_path(e, body), e) for e in errors]
    deepest = max(len(path) for path, _ in located)
    chosen = [(path, e) for path, e in located if len(path) == deepest]
    path, first = chosen[0]
    special = _tag_problem(first, path)
    if special is not None:
        return special
    messages = _unique(_message(e) for p, e in chosen if p == path)
    joined = messages[0] + "".join(
        " or " + m.removeprefix("Input should be ") for m in messages[1:]
    )
    return Problem(".".join(path), joined, _CODES.get(first["type"], "invalid_type"))


def _tag_problem(error: ErrorDetails, path: list[str]) -> Problem | None:
    """A block, part or item that is not an object, or has no `type`, in plain words."""
    if error["type"] != "union_tag_not_found":
        return None
    if not isinstance(error.get("input"), dict):
        return Problem(".".join(path), "Input should be an object", "invalid_type")
    return Problem(".".join([*path, "type"]), "Field required", _CODES["missing"])


def _path(error: ErrorDetails, body: Any) -> list[str]:
    """The real JSON path of the error: steps the body has, plus the field it lacks."""
    loc = error["loc"]
    node, out = body, []
    for i, step in enumerate(loc):
        if _has(node, step):
            node = node[step]
        elif not (i == len(loc) - 1 and error["type"] == "missing"):
            continue  # a union member's label, not a key of the body
        out.append(str(step))
    return out


def _has(node: Any, step: int | str) -> bool:
    if isinstance(node, dict):
        return isinstance(step, str) and step in node
    return isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)


def _message(error: ErrorDetails) -> str:
    text = error["msg"]
    for old, new in _WORDS:
        text = text.replace(old, new)
    return text


def _unique(items: Any) -> list[str]:
    return list(dict.fromkeys(items))
