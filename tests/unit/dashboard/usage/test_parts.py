"""Small pure parts of usage: event cursors, CSV cells, the collector bearer, freshness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from services.core.errors import ValidationFailed
from services.dashboard.usage.collect import bearer_matches, view
from services.dashboard.usage.csv_export import _cell
from services.dashboard.usage.history import decode_cursor
from services.dashboard.usage.queries.events import Freshness

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def test_cursor_round_trip_and_refusal() -> None:
    at, event_id = decode_cursor("1764244800123456.0f8fad5b-d9cb-469f-a165-70867728950e") or ()
    assert at == datetime(2025, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)
    assert event_id == "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert decode_cursor(None) is None
    for bad in (
        "x",
        "12.not-a-uuid",
        "99999999999999999999999.0f8fad5b-d9cb-469f-a165-70867728950e",
    ):
        with pytest.raises(ValidationFailed):
            decode_cursor(bad)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-x", "'-x"),
        ("@a", "'@a"),
        ("ok", "ok"),
        (None, ""),
        (True, "true"),
        (3, 3),
    ],
)
def test_csv_cells_never_start_a_formula(value: object, cell: object) -> None:
    assert _cell(value) == cell


def test_bearer() -> None:
    key = SecretStr("collector-key-0123456789")
    assert bearer_matches("Bearer collector-key-0123456789", key)
    assert bearer_matches("bearer  collector-key-0123456789 ", key)
    assert not bearer_matches("Bearer collector-key-012345678", key)
    assert not bearer_matches("Basic collector-key-0123456789", key)
    assert not bearer_matches("Bearer collector-key-0123456789", None)


def _state(**kw: object) -> Freshness:
    base = dict(status="idle", leader_id="h:1", heartbeat_at=NOW, last_success_at=NOW,
                last_error=None, last_error_at=None, wake_requested_at=None,
                newest_event_at=None, collected_any=True, now=NOW)  # fmt: skip
    return Freshness(**{**base, **kw})  # type: ignore[arg-type]


def test_freshness_levels() -> None:
    assert view(_state()).level == "ok"
    assert view(_state(last_success_at=NOW - timedelta(minutes=5))).level == "warn"
    assert view(_state(last_success_at=NOW - timedelta(hours=1))).level == "bad"
    assert view(_state(last_success_at=None)).level == "bad"
    dead = view(_state(heartbeat_at=NOW - timedelta(minutes=10)))
    assert dead.level == "bad" and "not running" in dead.message
    failing = view(_state(status="error", last_error="proxy 2 refused"))
    assert failing.level == "warn" and "proxy 2 refused" in failing.message


def test_nothing_collected_yet_is_not_up_to_date() -> None:
    """A collector that runs but has never stored a request says so (issue 11)."""
    empty = view(_state(collected_any=False))
    assert empty.level == "ok" and "Nothing has been collected yet" in empty.message
    assert "up to date" not in empty.message
    assert "up to date" in view(_state()).message
