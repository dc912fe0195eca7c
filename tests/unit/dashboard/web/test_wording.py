"""Counted nouns: "1 model", never "1 models" (issue 11), in Python messages and templates."""

from __future__ import annotations

import pytest

from services.dashboard.app import HERE, TEMPLATE_DIRS
from services.dashboard.web import templating
from services.dashboard.web.wording import plural, plural_of


@pytest.mark.parametrize(
    "count, word, expected",
    [
        (0, "model", "0 models"),
        (1, "model", "1 model"),
        (2, "model", "2 models"),
        (1, "proxy", "1 proxy"),
        (3, "proxy", "3 proxies"),
        (1, "session", "1 session"),
        (12_345, "request", "12,345 requests"),
        (2, "day", "2 days"),
        (2, "match", "2 matches"),
        (None, "key", "0 keys"),
    ],
)
def test_plural(count: int | None, word: str, expected: str) -> None:
    assert plural(count, word) == expected


def test_compact_counts_and_irregular_forms() -> None:
    assert plural(1_234_567, "request", compact=True) == "1.2M requests"
    assert plural(1, "request", compact=True) == "1 request"
    assert plural(2, "person", "people") == "2 people"
    assert plural_of("key") == "keys" and plural_of("entry") == "entries"


def test_templates_use_the_filter() -> None:
    env = templating.build(TEMPLATE_DIRS, HERE / "static").env
    one = env.get_template("partials/discovered.html").render(discovered=["gpt-4o"])
    two = env.get_template("partials/discovered.html").render(discovered=["a", "b"])
    assert "1 model found." in one and "1 models" not in one
    assert "2 models found." in two
    for path in (p for folder in TEMPLATE_DIRS for p in folder.rglob("*.html")):
        text = path.read_text()
        assert "|length }} models" not in text and "}} requests" not in text, path.name
