"""Usage event fields: reasoning_effort from the model suffix or each format's native field;
the timestamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.proxy.routing.codec_contract import Call
from services.proxy.translate import parse_model_suffix
from services.proxy.usage.recorder import _Timestamps, reasoning_effort

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _call(body: dict, suffix_model: str | None = None) -> Call:
    extra: dict = {}
    if suffix_model is not None:
        extra["thinking"] = parse_model_suffix(suffix_model)[1]
    return Call(None, None, "openai", "", "m", body, False, "", "", extra=extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "suffix", "expected"),
    [
        ({"reasoning_effort": "high"}, None, "high"),
        ({"reasoning": {"effort": "low"}}, None, "low"),
        ({"output_config": {"effort": "medium"}}, None, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 4096}}, None, "4096"),
        ({"generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}}}, None, "1024"),
        ({"generationConfig": {"thinkingConfig": {"thinkingLevel": "high"}}}, None, "high"),
        ({"reasoning_effort": "low"}, "m(8192)", "8192"),
        ({}, "m(high)", "high"),
        ({}, "m(none)", "none"),
        ({}, None, ""),
    ],
)
def test_reasoning_effort_sources(body, suffix, expected):
    """The suffix wins; otherwise the first native field present names the effort."""
    assert reasoning_effort(_call(body, suffix)) == expected


@given(st.lists(st.integers(min_value=0, max_value=4_102_444_800 * 10**9), min_size=1, max_size=20))
def test_timestamps_read_as_datetime_now_would(clock_readings):
    """The cached formatting gives datetime.now(UTC).isoformat(timespec="milliseconds")'s text
    for every clock reading, in any order (seconds crossed, repeated, gone back)."""
    readings = iter(clock_readings)
    stamps = _Timestamps(clock=lambda: next(readings))
    for ns in clock_readings:
        moment = EPOCH + timedelta(microseconds=ns // 1000)  # datetime.now floors to us
        assert stamps.now() == moment.isoformat(timespec="milliseconds")


def test_timestamps_follow_the_clock():
    before = datetime.now(UTC).isoformat(timespec="milliseconds")
    stamp = _Timestamps().now()
    after = datetime.now(UTC).isoformat(timespec="milliseconds")
    assert before <= stamp <= after


@pytest.mark.parametrize(
    "body",
    [{}, {"model": "m", "messages": [], "stream": True}, {"reasoning_effort": None}],
)
def test_no_effort_named_is_empty(body):
    assert reasoning_effort(_call(body)) == ""
