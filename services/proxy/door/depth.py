"""How deeply a parsed JSON value nests (objects and arrays), counted only as far as needed."""

from __future__ import annotations

from typing import Any

_CONTAINERS = (dict, list)


def deeper_than(value: Any, limit: int) -> bool:
    """True when `value` nests more than `limit` containers deep; the top object is level 1.

    Walks level by level and stops at `limit`, so a hostile body costs no more than a normal
    one of the same size, and no recursion is involved.
    """
    level = [value]
    for _ in range(limit):
        below: list[Any] = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if isinstance(child, _CONTAINERS):
                    below.append(child)
        if not below:
            return False
        level = below
    return True
