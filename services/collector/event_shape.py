"""The fast path of event validation: the common, plainly valid event shape, checked by msgspec.

`plain_row` turns an event that needs nothing but copying (every value of the expected type
and in range, no clamping, no cutting) into its row, or answers None: then `events.py`'s full
validator decides, so every refusal, clamp and reason stays exactly its own. The types below
are therefore stricter than the contract, never looser: anything msgspec accepts here is a
value the full validator would take unchanged (tests/unit/collector/test_event_shape.py checks
both agree on random events).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec.structs import astuple

from services.collector.usage_events import NOT_NULL_TEXT, TEXT_COLUMNS, EventRow

_MAX_INT4 = 2**31 - 1
_MAX_COUNTER = 2**62

_Counter = Annotated[int, msgspec.Meta(ge=0, le=_MAX_COUNTER)]
_Millis = Annotated[int, msgspec.Meta(ge=0, le=_MAX_INT4)]
_Status = Annotated[int, msgspec.Meta(ge=-_MAX_INT4, le=_MAX_INT4)]
_Text = Annotated[str, msgspec.Meta(max_length=512)] | None  # longer ones are cut: slow path
_KeyId = Annotated[str, msgspec.Meta(max_length=64)] | None
# The NOT NULL texts: absent is '' as there; a null (the proxy writes '') takes the slow path.
_NotNull = Annotated[str, msgspec.Meta(max_length=512)]


class _Tokens(msgspec.Struct):
    # A null counter (0 for the full validator) is left to the slow path: the proxy writes ints.
    input_tokens: _Counter = 0
    output_tokens: _Counter = 0
    reasoning_tokens: _Counter = 0
    cached_tokens: _Counter = 0
    cache_read_tokens: _Counter = 0
    cache_creation_tokens: _Counter = 0
    total_tokens: _Counter = 0


class _Event(msgspec.Struct):
    """Fields the full validator reads; absent and null mean the same for all but the three
    required ones and instance_id (a null instance_id is refused there, so UNSET here)."""

    event_id: uuid.UUID  # the canonical spellings; braces and urn: go the slow way
    timestamp: str
    seq: _Counter
    instance_id: str | msgspec.UnsetType = msgspec.UNSET
    api_key_id: _KeyId = None
    latency_ms: _Millis | None = None
    ttft_ms: _Millis | None = None
    stream: bool | None = None
    failed: bool | None = None
    status_code: _Status | None = None
    tokens: _Tokens | None = None
    request_id: _Text = None
    provider: _NotNull = ""
    executor_type: _Text = None
    auth_type: _Text = None
    auth_index: _NotNull = ""
    source: _Text = None
    endpoint: _Text = None
    model: _NotNull = ""
    alias: _Text = None
    reasoning_effort: _Text = None
    service_tier: _Text = None
    client_ip: _Text = None
    user_agent: _Text = None
    refused: _Text = None


assert tuple(_Event.__struct_fields__[-len(TEXT_COLUMNS) :]) == TEXT_COLUMNS
_NO_TOKENS = _Tokens()
_FIRST_TEXT = len(_Event.__struct_fields__) - len(TEXT_COLUMNS)
_EMPTY = _Event(uuid.UUID(int=0), "", 0)
assert {name for name in TEXT_COLUMNS if getattr(_EMPTY, name) == ""} == NOT_NULL_TEXT


def plain_row(raw: object, instance_id: str, oldest: datetime, newest: datetime) -> EventRow | None:
    """The row for a plainly valid event, or None when the full validator must look at it."""
    try:
        event = msgspec.convert(raw, _Event)
        ts = datetime.fromisoformat(event.timestamp)
    except (msgspec.ValidationError, ValueError):
        return None
    if ts.tzinfo is None or not oldest <= ts <= newest:
        return None
    if event.instance_id is not msgspec.UNSET and event.instance_id != instance_id:
        return None
    texts = astuple(event)[_FIRST_TEXT:]
    if "\x00" in "".join(filter(None, texts)):
        return None  # Postgres text cannot hold NUL: the full validator strips it
    return _row(event, ts, instance_id, texts)


def _row(event: _Event, ts: datetime, instance_id: str, texts: tuple[object, ...]) -> EventRow:
    t = event.tokens or _NO_TOKENS
    total = t.total_tokens or t.input_tokens + t.output_tokens  # the seed's rule, as there
    key = event.api_key_id.lower() if event.api_key_id else ""
    return EventRow._make(
        (
            event.event_id, ts, instance_id, event.seq, key, event.latency_ms, event.ttft_ms,
            bool(event.stream), bool(event.failed), event.status_code,
            t.input_tokens, t.output_tokens, t.reasoning_tokens, t.cached_tokens,
            t.cache_read_tokens, t.cache_creation_tokens, total, *texts,
        )
    )  # fmt: skip
