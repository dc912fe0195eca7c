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
    ("an instance of dict", "an object"),
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


def first_problem(errors: list[ErrorDetails], body: Any) -> Problem | None:
    """The one error to report, or None when the errors only say that some block, part or
    tool has a `type` the schema does not list.

    Such a type is the upstream's to judge: providers add types faster than a gateway can
    follow. Its error also makes the unions above it fail (`content` is then "not a valid
    string" either), so errors on the path down to an unknown type are dropped with it.
    """
    located = [(_path(e, body), e) for e in errors]
    unknown = [path for path, e in located if _unknown_type(e)]
    located = [(p, e) for p, e in located if not any(_leads_to(p, u) for u in unknown)]
    if not located:
        return None
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


def _unknown_type(error: ErrorDetails) -> bool:
    value = error.get("input")
    return (
        error["type"] == "union_tag_invalid"
        and isinstance(value, dict)
        and isinstance(value.get("type"), str)
    )


def _leads_to(path: list[str], unknown: list[str]) -> bool:
    return path == unknown[: len(path)]


def _tag_problem(error: ErrorDetails, path: list[str]) -> Problem | None:
    """A block, part or item that is not an object, or has no string `type`, in plain words."""
    if error["type"] not in ("union_tag_not_found", "union_tag_invalid"):
        return None
    value = error.get("input")
    if not isinstance(value, dict):
        return Problem(".".join(path), "Input should be an object", "invalid_type")
    if "type" not in value:
        return Problem(".".join([*path, "type"]), "Field required", _CODES["missing"])
    return Problem(".".join([*path, "type"]), "Input should be a valid string", "invalid_type")


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
