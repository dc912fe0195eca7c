"""Validation of raw usage events (PROTOCOLS.md section 5) into typed rows or rejections.

An event that cannot be stored as-is is never fixed up silently beyond clamping counters at
zero (as the seed did): it becomes a `Rejected` with a reason, stored aside by the worker.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.collector.event_shape import plain_row
from services.collector.usage_events import NOT_NULL_TEXT, TEXT_COLUMNS, TOKEN_COLUMNS, EventRow

_TOKEN_FIELDS = TOKEN_COLUMNS
# Each text column and what an absent value becomes: '' for the NOT NULL ones.
_TEXT_FIELDS = tuple((name, "" if name in NOT_NULL_TEXT else None) for name in TEXT_COLUMNS)
_MAX_TEXT = 512  # longer free text (user agents) is cut: rows stay small
_MAX_INT4 = 2**31 - 1
_MAX_COUNTER = 2**62


@dataclass(frozen=True, slots=True)
class Rejected:
    """An event set aside: why, and what it was (raw JSON value as received)."""

    reason: str
    raw: object
    seq: int | None
    event_id: str | None


class _Invalid(ValueError):
    """Raised inside parsing with the reason the event is rejected."""


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Timestamps the database accepts: not older than retention, not far in the future."""

    oldest: datetime
    newest: datetime

    @classmethod
    def around(cls, now: datetime, oldest: datetime, future: timedelta) -> TimeWindow:
        return cls(oldest=oldest, newest=now + future)


def parse_event(raw: object, instance_id: str, window: TimeWindow) -> EventRow | Rejected:
    """Validate one raw event from the page of `instance_id`: the compiled check of the plain
    shape first (most events), the full validator below for anything it does not take."""
    row = plain_row(raw, instance_id, window.oldest, window.newest)
    return row if row is not None else check_event(raw, instance_id, window)


def check_event(raw: object, instance_id: str, window: TimeWindow) -> EventRow | Rejected:
    """The full validator: every refusal and its reason, clamping and cutting."""
    if not isinstance(raw, dict):
        return Rejected("event is not a JSON object", raw, None, None)
    seq = raw.get("seq")
    event_id = raw.get("event_id")
    try:
        return _parse(raw, instance_id, window)
    except _Invalid as exc:
        return Rejected(
            str(exc),
            raw,
            seq if _is_int(seq) else None,
            event_id[:64] if isinstance(event_id, str) else None,
        )


def _parse(raw: dict[str, object], instance_id: str, window: TimeWindow) -> EventRow:
    if raw.get("instance_id", instance_id) != instance_id:
        raise _Invalid("instance_id differs from the page's instance_id")
    tokens = raw.get("tokens")
    tokens = {} if tokens is None else tokens
    if not isinstance(tokens, dict):
        raise _Invalid("tokens is not an object")
    counts = _counters(tokens)
    if counts[6] == 0:
        counts[6] = counts[0] + counts[1]  # the seed's rule: no total means input + output
    # Straight into the row the staging table takes: no intermediate object per event.
    return EventRow._make(
        (
            _uuid(raw.get("event_id")),
            _timestamp(raw.get("timestamp"), window),
            instance_id,
            _required_int(raw, "seq"),
            _api_key_id(raw.get("api_key_id")),
            _millis(raw, "latency_ms"),
            _millis(raw, "ttft_ms"),
            _flag(raw, "stream"),
            _flag(raw, "failed"),
            _optional_int(raw, "status_code"),
            *counts,
            *_texts(raw),
        )
    )


# The two loops below run for every field of every event: each keeps the common case (a
# plain value that needs no change) inline and leaves the checks to the slow path.


def _counters(tokens: dict[str, object]) -> list[int]:
    counts = []
    for name in _TOKEN_FIELDS:
        value = tokens.get(name)
        if type(value) is int and 0 <= value <= _MAX_COUNTER:
            counts.append(value)
        else:
            counts.append(_counter(tokens, name))
    return counts


def _texts(raw: dict[str, object]) -> list[str | None]:
    texts: list[str | None] = []
    for name, absent in _TEXT_FIELDS:
        value = raw.get(name)
        if value is None:
            texts.append(absent)
        elif type(value) is str and len(value) <= _MAX_TEXT and "\x00" not in value:
            texts.append(value)
        else:
            texts.append(_text(raw, name))
    return texts


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _uuid(value: object) -> uuid.UUID:
    if not isinstance(value, str):
        raise _Invalid("event_id is missing")
    try:
        return uuid.UUID(value)  # also the spellings without dashes or in braces
    except ValueError:
        raise _Invalid("event_id is not a UUID") from None


def _timestamp(value: object, window: TimeWindow) -> datetime:
    if not isinstance(value, str):
        raise _Invalid("timestamp is missing")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid("timestamp is not RFC 3339") from None
    if ts.tzinfo is None:
        raise _Invalid("timestamp has no time zone")
    if ts < window.oldest:
        raise _Invalid("timestamp is older than the retention window")
    if ts > window.newest:
        raise _Invalid("timestamp is too far in the future")
    return ts


def _required_int(raw: dict[str, object], name: str) -> int:
    value = raw.get(name)
    if not _is_int(value):
        raise _Invalid(f"{name} is missing or not an integer")
    assert isinstance(value, int)
    if not 0 <= value <= _MAX_COUNTER:
        raise _Invalid(f"{name} is out of range")
    return value


def _optional_int(raw: dict[str, object], name: str) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if not _is_int(value):
        raise _Invalid(f"{name} is not an integer")
    assert isinstance(value, int)
    return max(min(value, _MAX_INT4), -_MAX_INT4)


def _millis(raw: dict[str, object], name: str) -> int | None:
    value = raw.get(name)
    return None if value is None else _clamped(value, name, _MAX_INT4)


def _counter(tokens: dict[str, object], name: str) -> int:
    value = tokens.get(name)
    return 0 if value is None else _clamped(value, f"tokens.{name}", _MAX_COUNTER)


def _clamped(value: object, label: str, cap: int) -> int:
    """A number as an int in [0, cap]; anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"{label} is not a number")
    return min(max(int(value), 0), cap)


def _flag(raw: dict[str, object], name: str) -> bool:
    value = raw.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _Invalid(f"{name} is not a boolean")
    return value


def _text(raw: dict[str, object], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid(f"{name} is not a string")
    return value[:_MAX_TEXT].replace("\x00", "")  # Postgres text cannot hold NUL


def _api_key_id(value: object) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > 64:
        raise _Invalid("api_key_id is not a short string")
    return value.lower()
