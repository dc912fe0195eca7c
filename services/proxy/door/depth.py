"""How deeply a parsed JSON value nests (objects and arrays), counted only as far as needed."""

from __future__ import annotations

import gc
from typing import Any


def deeper_than(value: Any, limit: int) -> bool:
    """True when `value` nests more than `limit` containers deep; the top object is level 1.

    Walks level by level in C: `gc.get_referents` returns the values of every dict and the
    items of every list passed to it and skips scalars, which have nothing to traverse. (A
    parsed body is complete, so none of its objects is under construction, the case the gc
    documentation warns about.) After `limit` steps only the values left over are looked at:
    if one of them is a container, the body goes deeper than `limit`. A body stops early,
    typically after 10-15 steps, and a hostile one costs one pass over its values.
    """
    level = [value]
    for _ in range(limit):
        level = gc.get_referents(*level)
        if not level:
            return False
    return any(type(item) is dict or type(item) is list for item in level)
