"""What the request schemas share: exact types, unknown fields kept, null where absent is fine.

The models describe only what the proxy reads; everything else in a body passes unchecked, as
the providers accept fields they do not know. Types are strict (`"5"` is not an integer) so a
value the translator would trip over is refused at the door instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, InstanceOf, with_config
from typing_extensions import TypedDict

# The validated copy is thrown away (the body goes on as parsed), so unknown keys are ignored
# rather than copied. Strict: `"5"` is not an integer; a float field still takes an integer.
SCHEMA_CONFIG = ConfigDict(extra="ignore", strict=True)

if TYPE_CHECKING:
    Object = dict[str, Any]
else:
    # Any JSON object, checked with one isinstance instead of a copy of every key: tool
    # schemas and arguments are most of a large body, and only their being objects matters.
    Object = InstanceOf[dict]


@with_config(SCHEMA_CONFIG)
class Untyped(TypedDict):
    """A block, part, tool or item of a type the proxy does not read: relayed as it is. The
    providers add types faster than any gateway can follow, and they judge them upstream."""

    type: str


def by_type(tags: dict[str, str], default: str | None = None) -> Callable[[Any], str | None]:
    """A discriminator that picks a union member by the value's `type` (`default` when it has
    none); a type not in `tags` picks the member tagged "other" (`Untyped`)."""

    def tag_of(value: Any) -> str | None:
        if not isinstance(value, dict):
            return None  # pydantic reports "should be an object"
        kind = value.get("type", default)
        if kind is None:
            return None  # no type at all: reported at `<path>.type`
        return tags.get(kind, "other") if isinstance(kind, str) else "other"

    return tag_of
