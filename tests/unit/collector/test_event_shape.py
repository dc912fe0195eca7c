"""The compiled fast path (event_shape.plain_row) against the full validator (check_event).

For random events, valid and broken, `parse_event` (fast path first) and `check_event` (the
validator as it was) must agree exactly: the same refusal with the same reason, or the same row
with the same value types (True == 1 in a plain tuple comparison, so types are compared too).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.collector.event_shape import plain_row
from services.collector.events import TimeWindow, check_event, parse_event
from services.collector.usage_events import TEXT_COLUMNS, TOKEN_COLUMNS, EventRow
from tests.fakes.usage_source import make_event

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
WINDOW = TimeWindow(oldest=datetime(2025, 11, 1, tzinfo=UTC), newest=NOW + timedelta(days=1))
ID = "0f8fad5b-d9cb-469f-a165-70867728950e"

_INTS = st.sampled_from(
    [0, 1, -1, 7, 200, 2**31 - 2, 2**31 - 1, 2**31, -(2**31) + 1, -(2**31), 2**62, 2**62 + 1,
     2**63 - 1, -(2**63), 2**64 - 1]
) | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # fmt: skip
_TEXTS = st.sampled_from(
    ["", "a", "A\x00b", "\x00", "x" * 512, "y" * 513, "é" * 512, "é" * 513]
) | (st.text(max_size=20))
_TIMES = st.sampled_from(
    [
        "2026-11-27T11:55:00Z",
        "2026-11-27T11:55:00.123456789Z",
        "2026-11-27T11:55:00+02:00",
        "2026-11-27T11:55:00",
        "2026-11-27",
        "2020-01-01T00:00:00Z",
        "2025-11-01T00:00:00Z",
        "2025-10-31T23:59:59.999999Z",
        "2026-11-28T12:00:00Z",
        "2026-11-28T12:00:00.000001Z",
        "2027-01-01T00:00:00Z",
        "yesterday",
    ]
)
_IDS = st.sampled_from(
    [ID, ID.upper(), ID.replace("-", ""), "{" + ID + "}", "urn:uuid:" + ID, ID[:-1], "nope", ""]
) | st.uuids().map(str)
_ANY = st.none() | st.booleans() | _INTS | st.floats(allow_nan=False, allow_infinity=False)
_ANY = _ANY | _TEXTS | _IDS | _TIMES | st.just([]) | st.just({}) | st.just([1])
_VALUES = {
    "event_id": _IDS,
    "timestamp": _TIMES,
    "seq": _INTS,
    "instance_id": st.sampled_from(["proxy-a", "proxy-b", ""]),
    "api_key_id": st.sampled_from(["", "ABCDEF0123456789", "k" * 64, "k" * 65]),
    "latency_ms": _INTS,
    "ttft_ms": _INTS,
    "stream": st.booleans(),
    "failed": st.booleans(),
    "status_code": _INTS,
    **{name: _TEXTS for name in TEXT_COLUMNS},
}
_FIELDS = st.sampled_from(sorted(_VALUES))


@st.composite
def events(draw: st.DrawFn) -> object:
    """A realistic event, then a few fields changed to typed or arbitrary values, removed,
    or the tokens object changed; sometimes not an object at all."""
    if draw(st.integers(0, 30)) == 0:
        return draw(_ANY)
    raw = make_event(draw(st.integers(0, 10**6)), "proxy-a", random.Random(draw(st.integers())))
    raw["timestamp"] = draw(st.just("2026-11-27T11:55:00Z") | _TIMES)
    for _ in range(draw(st.integers(0, 3))):
        name = draw(_FIELDS)
        action = draw(st.integers(0, 5))
        if action == 0:
            raw.pop(name, None)
        else:
            raw[name] = draw(_ANY if action == 1 else _VALUES[name] | st.none())
    raw["tokens"] = draw(_tokens(raw["tokens"]))
    return orjson.loads(orjson.dumps(raw))  # only what JSON can carry, as from the proxy


def _tokens(tokens: object) -> st.SearchStrategy[object]:
    assert isinstance(tokens, dict)
    counts = st.sampled_from([0, -1, 2**62, 2**62 + 1, 1.5, 2.0, None, "1", True]) | _ANY
    changed = st.dictionaries(st.sampled_from(TOKEN_COLUMNS), counts, max_size=3).map(
        lambda change: {**tokens, **change}
    )
    total = counts.map(lambda value: {**tokens, "total_tokens": value})
    return st.just(tokens) | changed | total | _ANY


def typed(result: object) -> object:
    return [(type(v), v) for v in result] if isinstance(result, EventRow) else result


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_fast_path_and_full_validator_agree(raw):
    """Accept or refuse, reason, row and value types: all as the full validator decides."""
    assert typed(parse_event(raw, "proxy-a", WINDOW)) == typed(check_event(raw, "proxy-a", WINDOW))


def test_realistic_events_take_the_fast_path():
    """The proxy's own events need no slow path (else the fast path buys nothing)."""
    rng = random.Random(3)
    for seq in range(200):
        raw = make_event(seq, "proxy-a", rng, at=NOW - timedelta(minutes=seq))
        row = plain_row(raw, "proxy-a", WINDOW.oldest, WINDOW.newest)
        assert row is not None
        assert typed(row) == typed(check_event(raw, "proxy-a", WINDOW))


def test_what_only_the_full_validator_does_leaves_the_fast_path():
    """Clamping, cutting, NUL stripping and odd id spellings are the full validator's."""
    for change in (
        {"latency_ms": -5},
        {"latency_ms": 1.5},
        {"user_agent": "u" * 600},
        {"model": "a\x00b"},
        {"event_id": "{" + ID + "}"},
        {"tokens": {"input_tokens": None}},
        {"model": None},
    ):
        raw = {**make_event(1, "proxy-a", random.Random(1), at=NOW), **change}
        assert plain_row(raw, "proxy-a", WINDOW.oldest, WINDOW.newest) is None, change
        assert isinstance(parse_event(raw, "proxy-a", WINDOW), EventRow), change


_EDGES = [None, True, False, 0, -1, 1.5, 2.0, 2**31 - 1, 2**31, -(2**31), 2**62, 2**62 + 1, 2**64]
_EDGES += ["", "\x00", "x" * 512, "x" * 513, "k" * 64, "K" * 65, [], {}, ID, "{" + ID + "}"]
_EDGES += ["2026-11-27T11:55:00Z", "2026-11-27T11:55:00", "2027-01-01T00:00:00Z", "proxy-a"]


def test_every_field_with_every_edge_value_agrees():
    """Each field of the event and of its tokens set to each boundary value, one at a time."""
    base = make_event(1, "proxy-a", random.Random(2), at=NOW)
    for name in [*_VALUES, "tokens", "unknown"]:
        for value in _EDGES:
            raw = {**base, name: value}
            assert typed(parse_event(raw, "proxy-a", WINDOW)) == typed(
                check_event(raw, "proxy-a", WINDOW)
            ), (name, value)
    for name in TOKEN_COLUMNS:
        for value in _EDGES:
            raw = {**base, "tokens": {**base["tokens"], name: value}}  # type: ignore[dict-item]
            assert typed(parse_event(raw, "proxy-a", WINDOW)) == typed(
                check_event(raw, "proxy-a", WINDOW)
            ), (name, value)
