"""Usage windows: whole UTC hours, local days, DST, half-hour zones, and the refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.core.errors import ValidationFailed
from services.dashboard.usage.window import parse_window

NOW = datetime(2026, 3, 30, 14, 37, 12, tzinfo=UTC)  # the day after Europe's spring DST change


def test_24h_is_the_last_24_whole_hours_including_this_one() -> None:
    w = parse_window({"window": "24h"}, NOW)
    assert (w.start, w.end) == (
        datetime(2026, 3, 29, 15, tzinfo=UTC),
        datetime(2026, 3, 30, 15, tzinfo=UTC),
    )
    assert w.bucket == "hour" and len(w.bucket_starts()) == 24 and not w.approximate


def test_7d_is_seven_local_calendar_days() -> None:
    w = parse_window({"window": "7d", "tz": "Europe/Paris"}, NOW)
    assert w.start == datetime(2026, 3, 23, 23, tzinfo=UTC)  # local midnight, UTC+1 then
    assert w.bucket == "day" and not w.approximate
    days = w.bucket_starts()
    assert len(days) == 7
    assert days[-1] == datetime(2026, 3, 29, 22, tzinfo=UTC)  # UTC+2 after the change
    assert days[-1] - days[-2] == timedelta(hours=23)  # 29 March lasts 23 hours


def test_half_hour_zone_is_approximate_and_days_hold_each_hours_middle() -> None:
    w = parse_window({"window": "7d", "tz": "Asia/Kolkata"}, NOW)
    assert w.approximate
    assert w.start == datetime(2026, 3, 23, 18, tzinfo=UTC)  # 23:30 local, floored to the hour
    assert w.bucket_starts()[0] == datetime(2026, 3, 23, 18, 30, tzinfo=UTC)


def test_custom_dates_are_whole_local_days_with_to_inclusive() -> None:
    w = parse_window({"from": "2026-03-01", "to": "2026-03-02", "tz": "America/New_York"}, NOW)
    assert (w.start, w.end) == (
        datetime(2026, 3, 1, 5, tzinfo=UTC),
        datetime(2026, 3, 3, 5, tzinfo=UTC),
    )
    assert w.bucket == "hour" and w.name == "custom" and not w.approximate


def test_custom_date_times_widen_to_whole_hours() -> None:
    w = parse_window({"from": "2026-03-01T10:15:00Z", "to": "2026-03-01T12:05:00+00:00"}, NOW)
    assert (w.start, w.end) == (
        datetime(2026, 3, 1, 10, tzinfo=UTC),
        datetime(2026, 3, 1, 13, tzinfo=UTC),
    )
    assert w.approximate


def test_future_end_is_cut_at_the_current_hour() -> None:
    w = parse_window({"from": "2026-03-29", "to": "2026-04-05"}, NOW)
    assert w.end == datetime(2026, 3, 30, 15, tzinfo=UTC)


def test_query_round_trips() -> None:
    w = parse_window({"from": "2026-03-01", "to": "2026-03-20", "tz": "Asia/Tokyo"}, NOW)
    assert parse_window(w.query(), NOW) == w
    assert parse_window(parse_window({"window": "30d"}, NOW).query(), NOW).name == "30d"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"window": "90d"}, "window"),
        ({"from": "2026-03-01"}, "to"),
        ({"from": "2026-03-02", "to": "2026-03-01T00:00:00Z"}, "to"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "to"),
        ({"from": "1990-01-01", "to": "1990-01-02"}, "from"),
        ({"from": "2027-01-01", "to": "2027-01-02"}, "from"),
        ({"from": "03/01/2026", "to": "2026-03-02"}, "from"),
        ({"tz": "Nowhere/City"}, "tz"),
        ({"tz": "/etc/localtime"}, "tz"),
        ({"tz": "Europe/../../x"}, "tz"),
        ({"bucket": "minute"}, "bucket"),
        ({"from": "2026-01-01", "to": "2026-03-01", "bucket": "hour"}, "bucket"),
    ],
)
def test_refusals_name_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_window(params, NOW)
    assert caught.value.details[0]["field"] == field
