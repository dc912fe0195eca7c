"""Comment-keeping edits of the round-trip config document."""

from __future__ import annotations

from services.proxy.config.loader import dump_document, parse_document
from services.proxy.config.model import OpenAICompatibility, ProviderKey
from services.proxy.management.list_items import compact
from services.proxy.management.yaml_edit import keep_trailing_comments, merge_map, set_key, to_plain

TEXT = """\
a: 1 # inline a
list:
  - x # inline x
  - y
# above b
b:
  - k: v # inline k
# above c
c: 3
"""


def test_replacing_a_list_keeps_the_comment_above_the_next_key():
    doc = parse_document(TEXT)
    set_key(doc, "list", ["z"])
    set_key(doc, "b", [])
    out = dump_document(doc)
    assert out == "a: 1 # inline a\nlist:\n  - z\n# above b\nb: []\n# above c\nc: 3\n"


def test_deleting_the_last_item_keeps_following_comments():
    doc = parse_document(TEXT)
    with keep_trailing_comments(doc, "b"):
        del doc["b"][0]
    assert "# above c\nc: 3" in dump_document(doc)


def test_merge_map_keeps_unchanged_keys_and_their_comments():
    doc = parse_document("m:\n  one: 1 # keep\n  two: 2\n  three: 3\n")
    merge_map(doc["m"], {"one": 1, "three": 30, "four": {"x": [1]}})
    assert dump_document(doc) == "m:\n  one: 1 # keep\n  three: 30\n  four:\n    x:\n      - 1\n"


def test_to_plain_unwraps_ruamel_scalars():
    doc = parse_document("f: 1.5\ni: 7\nb: true\ns: 'q'\nn:\nl: [1, false]\n")
    plain = to_plain(doc)
    assert plain == {"f": 1.5, "i": 7, "b": True, "s": "q", "n": None, "l": [1, False]}
    assert [type(v) for v in plain.values()] == [float, int, bool, str, type(None), list]


def test_compact_drops_defaults_keeps_unknown_and_required():
    item = {
        "api-key": " k ",
        "base-url": "",
        "weight": 1,
        "priority": 0,
        "models": [],
        "headers": {},
        "disable-cooling": False,
        "cloak": {"mode": "x"},
        "prefix": None,
    }
    assert compact(item, ProviderKey) == {"api-key": "k", "cloak": {"mode": "x"}}
    compat = {
        "name": "n",
        "base-url": "u",
        "disabled": False,
        "api-key-entries": [{"api-key": "a", "weight": 1, "proxy-url": ""}],
        "models": [{"name": "m", "alias": ""}],
    }
    assert compact(compat, OpenAICompatibility) == {
        "name": "n",
        "base-url": "u",
        "api-key-entries": [{"api-key": "a"}],
        "models": [{"name": "m"}],
    }
