"""Validation of raw usage events into rows or rejections."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.collector.events import Rejected, TimeWindow, parse_event
from services.collector.usage_events import EventRow
from tests.fakes.usage_source import make_event

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
WINDOW = TimeWindow(oldest=datetime(2025, 11, 1, tzinfo=UTC), newest=NOW + timedelta(days=1))


def event(**overrides: object) -> dict[str, object]:
    return make_event(7, "proxy-a", random.Random(1), at=NOW - timedelta(minutes=5), **overrides)


def test_valid_event_becomes_a_row():
    """Every field of the contract lands in the row."""
    raw = event(api_key_id="ABCDEF0123456789")
    row = parse_event(raw, "proxy-a", WINDOW)
    assert isinstance(row, EventRow)
    assert row.event_id == uuid.UUID(str(raw["event_id"]))
    assert row.seq == 7
    assert row.ts == NOW - timedelta(minutes=5)
    assert row.api_key_id == "abcdef0123456789"
    assert row.model == raw["model"]
    assert row.input_tokens == raw["tokens"]["input_tokens"]  # type: ignore[index]


def test_nanosecond_timestamps_truncate_to_microseconds():
    """Two copies of the same event always give the same stored timestamp."""
    row = parse_event(event(timestamp="2026-11-27T11:00:00.123456789Z"), "proxy-a", WINDOW)
    assert isinstance(row, EventRow)
    assert row.ts == datetime(2026, 11, 27, 11, 0, 0, 123456, tzinfo=UTC)


def test_counters_are_clamped_and_total_filled():
    """Negative counts become 0 (as the seed did); a zero total is input + output."""
    raw = event(tokens={"input_tokens": -5, "output_tokens": 7, "total_tokens": 0})
    row = parse_event(raw, "proxy-a", WINDOW)
    assert isinstance(row, EventRow)
    assert row[10:17] == (0, 7, 0, 0, 0, 0, 7)  # the token columns, in order


def test_missing_optionals_are_fine():
    """Only event_id, seq and timestamp are required."""
    raw = {"event_id": str(uuid.uuid4()), "seq": 1, "timestamp": "2026-11-27T11:00:00Z"}
    row = parse_event(raw, "proxy-a", WINDOW)
    assert isinstance(row, EventRow)
    assert row.api_key_id == ""
    assert row.failed is False
    assert row.latency_ms is None
    assert (row.provider, row.model, row.auth_index) == ("", "", "")  # NOT NULL columns
    assert row.endpoint is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_id": None}, "event_id is missing"),
        ({"event_id": "nope"}, "event_id is not a UUID"),
        ({"seq": "7"}, "seq is missing or not an integer"),
        ({"seq": True}, "seq is missing or not an integer"),
        ({"seq": -1}, "seq is out of range"),
        ({"timestamp": 12}, "timestamp is missing"),
        ({"timestamp": "2026-11-27T11:00:00"}, "timestamp has no time zone"),
        ({"timestamp": "2020-01-01T00:00:00Z"}, "timestamp is older than the retention window"),
        ({"timestamp": "2027-01-01T00:00:00Z"}, "timestamp is too far in the future"),
        ({"tokens": []}, "tokens is not an object"),
        ({"tokens": {"output_tokens": "1"}}, "tokens.output_tokens is not a number"),
        ({"latency_ms": "fast"}, "latency_ms is not a number"),
        ({"failed": "yes"}, "failed is not a boolean"),
        ({"model": 5}, "model is not a string"),
        ({"api_key_id": "x" * 65}, "api_key_id is not a short string"),
        ({"instance_id": "proxy-b"}, "instance_id differs from the page's instance_id"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason(change, reason):
    """Each broken field gives a precise reason; seq and event_id are kept when usable."""
    raw = event(**change)
    result = parse_event(raw, "proxy-a", WINDOW)
    assert isinstance(result, Rejected)
    assert result.reason == reason
    assert result.raw is raw


def test_non_object_is_rejected():
    """A JSON value that is not an object cannot be an event."""
    result = parse_event([1, 2], "proxy-a", WINDOW)
    assert isinstance(result, Rejected)
    assert result.reason == "event is not a JSON object"


def test_long_text_is_cut_and_nul_removed():
    """Free text is bounded and storable in Postgres."""
    row = parse_event(event(user_agent="a\x00" + "b" * 2000), "proxy-a", WINDOW)
    assert isinstance(row, EventRow)
    agent = row.user_agent
    assert agent is not None
    assert "\x00" not in agent
    assert len(agent) < 600


def test_event_ids_are_canonical():
    """Upper-case or dash-less ids are stored in one spelling, so repeats still collide."""
    plain = "0f8fad5b-d9cb-469f-a165-70867728950e"
    for spelling in (plain.upper(), plain.replace("-", ""), "{" + plain + "}"):
        row = parse_event(event(event_id=spelling), "proxy-a", WINDOW)
        assert isinstance(row, EventRow)
        assert row.event_id == uuid.UUID(plain)
