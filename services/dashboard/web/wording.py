"""Counted nouns for every page and message: "1 model", "2 models", "3 proxies"."""

from __future__ import annotations

from services.dashboard.web.formatting import compact as compact_number

_SIBILANT = ("s", "x", "z", "ch", "sh")


def plural_of(singular: str) -> str:
    """The regular English plural: proxy -> proxies, key -> keys, match -> matches."""
    if singular.endswith("y") and singular[-2:-1] not in set("aeiou"):
        return singular[:-1] + "ies"
    if singular.endswith(_SIBILANT):
        return singular + "es"
    return singular + "s"


def plural(
    count: int | float | None,
    singular: str,
    plural_form: str | None = None,
    *,
    compact: bool = False,
) -> str:
    """`count` and the noun agreeing with it; `compact` writes the count as 1.2k, 3.4M."""
    value = count or 0
    word = singular if value == 1 else (plural_form or plural_of(singular))
    number = compact_number(value) if compact else f"{value:,}"
    return f"{number} {word}"
