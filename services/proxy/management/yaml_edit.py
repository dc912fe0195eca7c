"""Edits of the round-trip config document that keep the operator's comments where they were.

ruamel attaches a comment line to the end of the node *before* it, so replacing or shrinking a
list would silently take the comment above the next key with it. `set_key` moves that trailing
comment onto the new value's tail; `take_following_lines` and `assemble_seq` rebuild a list
whose items moved, so each item keeps its own inline comment and the lines written above it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

Container = CommentedMap | CommentedSeq


def to_yaml(value: Any) -> Any:
    """JSON-shaped data as round-trip nodes, so new maps and lists dump in block style."""
    if isinstance(value, CommentedMap | CommentedSeq):
        return value  # already a document node: keep it and its comments
    if isinstance(value, dict):
        node = CommentedMap()
        for key, item in value.items():
            node[str(key)] = to_yaml(item)
        return node
    if isinstance(value, list | tuple):
        return CommentedSeq(to_yaml(item) for item in value)
    return value


def to_plain(node: Any) -> Any:
    """Round-trip nodes as plain dicts, lists and scalars (for comparison and JSON)."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    # ruamel's scalar subclasses (ScalarFloat, ScalarInt, quoted strings) become plain values.
    for plain in (bool, int, float, str):
        if isinstance(node, plain):
            return plain(node)
    return node


def _tail_slots(node: Any) -> Iterator[tuple[dict[Any, Any], Any, int]]:
    """(ca.items, key, position) of each slot along the last-element path, outermost first."""
    while isinstance(node, CommentedMap | CommentedSeq) and len(node):
        if isinstance(node, CommentedMap):
            last: Any = list(node.keys())[-1]
            yield node.ca.items, last, 2
        else:
            last = len(node) - 1
            yield node.ca.items, last, 0
        node = node[last]


def _take_trailing_lines(node: Any) -> str:
    """Remove and return the whole comment lines that follow the node (not its inline comment)."""
    taken = ""
    for items, key, pos in _tail_slots(node):
        slot = items.get(key)
        token = slot[pos] if slot and len(slot) > pos else None
        if not isinstance(token, CommentToken) or "\n" not in token.value:
            continue
        inline, _, rest = token.value.partition("\n")
        if rest:
            token.value = inline + "\n"
            taken += rest
    return taken


def _append_lines(items: dict[Any, Any], key: Any, pos: int, lines: str) -> None:
    """Add whole comment lines after the node whose comment slot is `items[key][pos]`."""
    slot = items.setdefault(key, [None, None, None, None])
    while len(slot) <= pos:
        slot.append(None)
    token = slot[pos]
    if isinstance(token, CommentToken):
        token.value = token.value + lines
    else:
        slot[pos] = CommentToken("\n" + lines, CommentMark(0), None)


def _put_trailing_lines(parent: CommentedMap, key: str, lines: str) -> None:
    if isinstance(parent[key], CommentedMap | CommentedSeq) and not len(parent[key]):
        # A fresh empty node dumps as `key: {}` followed by the comment, not around it.
        parent[key] = type(parent[key])()
    slots = list(_tail_slots(parent[key]))
    if slots:
        items, last, pos = slots[-1]
    else:
        items, last, pos = parent.ca.items, key, 2
    _append_lines(items, last, pos, lines)


def _is_container(node: Any) -> bool:
    return isinstance(node, CommentedMap | CommentedSeq) and bool(len(node))


def take_following_lines(seq: CommentedSeq) -> list[str]:
    """Detach, item by item, the whole comment lines written after it (above the next item).

    The inline comment stays on its item; the lines returned belong to the item after it
    (or, for the last item, to whatever follows the list)."""
    lines = []
    for index, item in enumerate(seq):
        if _is_container(item):
            lines.append(_take_trailing_lines(item))
            continue
        slot = seq.ca.items.get(index)
        token = slot[0] if slot else None
        taken = ""
        if isinstance(token, CommentToken) and "\n" in token.value:
            inline, _, taken = token.value.partition("\n")
            token.value = inline + "\n"
        lines.append(taken)
    return lines


def _append_after_item(seq: CommentedSeq, index: int, lines: str) -> None:
    if _is_container(seq[index]):
        items, last, pos = list(_tail_slots(seq[index]))[-1]
        _append_lines(items, last, pos, lines)
    else:
        _append_lines(seq.ca.items, index, 0, lines)


def _lead_first_item(seq: CommentedSeq, lines: str) -> None:
    """Comment lines above the first item live in the sequence's own comment."""
    comment = seq.ca.comment
    if comment is None:
        comment = seq.ca.comment = [None, []]
    if comment[1] is None:
        comment[1] = []
    comment[1].append(CommentToken(lines, CommentMark(0), None))


def assemble_seq(
    old: CommentedSeq, picks: Sequence[tuple[int | None, Any]], following: Sequence[str]
) -> CommentedSeq:
    """A new sequence of `picks` (old index or None, node), after `take_following_lines(old)`.

    A reused item keeps its inline comment, and the lines that were written above it go back
    above it wherever it now stands; the lines after the old last item end the new list."""
    new = CommentedSeq()
    new.ca.comment = old.ca.comment
    if old.fa.flow_style():
        new.fa.set_flow_style()
    for position, (index, node) in enumerate(picks):
        new.append(node)
        if index is None:
            continue
        slot = old.ca.items.get(index)
        if slot is not None and not _is_container(node):
            new.ca.items[position] = slot
        above = following[index - 1] if index > 0 else ""
        if above and position > 0:
            _append_after_item(new, position - 1, above)
        elif above:
            _lead_first_item(new, above)
    if following and following[-1] and len(new):
        _append_after_item(new, len(new) - 1, following[-1])
    return new


@contextmanager
def keep_trailing_comments(parent: CommentedMap, key: str) -> Iterator[None]:
    """Whatever happens to `parent[key]` inside, comment lines after it stay after it."""
    lines = _take_trailing_lines(parent[key]) if key in parent else ""
    yield
    if lines and key in parent:
        _put_trailing_lines(parent, key, lines)


def set_key(parent: CommentedMap, key: str, value: Any) -> None:
    """Set `parent[key]` (JSON-shaped value), keeping the key's position and nearby comments."""
    with keep_trailing_comments(parent, key):
        parent[key] = to_yaml(value)


def merge_map(node: CommentedMap, new: dict[str, Any]) -> None:
    """Make `node` equal to `new` in place: unchanged keys keep their comments and order."""
    for key in [k for k in node if k not in new]:
        del node[key]
    for key, value in new.items():
        if key not in node or to_plain(node[key]) != value:
            node[key] = to_yaml(value)


def child_map(parent: CommentedMap, key: str) -> CommentedMap:
    """`parent[key]` as a mapping, created (or replacing a non-mapping) when needed."""
    node = parent.get(key)
    if not isinstance(node, CommentedMap):
        set_key(parent, key, {})
        node = parent[key]
    assert isinstance(node, CommentedMap)
    return node


def child_seq(parent: CommentedMap, key: str) -> CommentedSeq:
    node = parent.get(key)
    if not isinstance(node, CommentedSeq):
        set_key(parent, key, [])
        node = parent[key]
    assert isinstance(node, CommentedSeq)
    return node
