"""Usage analytics for one viewer: who may see what, and the report of a window.

Admins see everyone and may filter by user; any other user is always limited to their own
keys (user_id = their id), whatever they ask for, in series, breakdowns and events alike.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from services.core.db import Connection, Pool, Snapshot, shared_snapshot
from services.core.errors import Forbidden, ValidationFailed
from services.dashboard.accounts.queries.users import User
from services.dashboard.usage.queries import events as events_q
from services.dashboard.usage.queries import history as history_q
from services.dashboard.usage.queries.events import Event, Freshness
from services.dashboard.usage.queries.history import EMPTY, Group, Metrics, Scope
from services.dashboard.usage.window import Window

BREAKDOWNS = ("model", "apiKey", "user", "provider", "credential")
_KIND_TO_BREAKDOWN = {
    "model": "model",
    "api_key": "apiKey",
    "user": "user",
    "provider": "provider",
    "credential": "credential",
}
_KEY_ID = re.compile(r"[0-9a-f]{16}|")
_TEXT_LIMIT = 200
DEFAULT_EVENTS = 50


@dataclass(frozen=True, slots=True)
class Point:
    start: datetime
    metrics: Metrics


@dataclass(frozen=True, slots=True)
class Row:
    """One breakdown row. `id` is the value to filter by (model, key id, user id, ...)."""

    id: str
    label: str
    provider: str | None
    metrics: Metrics
    owner: str | None = None
    priced: bool = True
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class EventPage:
    items: list[Event]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Report:
    window: Window
    scope: Scope
    totals: Metrics
    series: list[Point]
    breakdowns: dict[str, list[Row]] = field(default_factory=dict)
    events: EventPage | None = None
    collector: Freshness | None = None  # the collector's state in the same snapshot

    @property
    def unpriced(self) -> list[Row]:
        return [row for row in self.breakdowns.get("model", []) if not row.priced]


def _text(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > _TEXT_LIMIT:
        raise ValidationFailed(
            f"{name} is too long", details=[{"field": name, "message": "too long"}]
        )
    return value


def _user_filter(viewer: User, raw: str | None) -> int | None:
    if raw in (None, ""):
        return None if viewer.is_admin else viewer.id
    try:
        user_id = int(str(raw))
    except ValueError as exc:
        raise ValidationFailed(
            "userId must be a number", details=[{"field": "userId", "message": "not a number"}]
        ) from exc
    if not viewer.is_admin and user_id != viewer.id:
        raise Forbidden("only admins may see other users' usage", code="admin_required")
    return user_id


def scope_for(viewer: User, params: Mapping[str, str], window: Window) -> Scope:
    """The scope a viewer may read: non-admins are pinned to their own user id."""
    api_key = _text(params, "apiKey")
    if api_key is not None and not _KEY_ID.fullmatch(api_key):
        raise ValidationFailed(
            "apiKey must be a 16-hex key id", details=[{"field": "apiKey", "message": "invalid"}]
        )
    return Scope(
        start=window.start,
        end=window.end,
        bucket=window.bucket,
        day_starts=tuple(window.bucket_starts()) if window.bucket == "day" else (),
        user_id=_user_filter(viewer, params.get("userId")),
        model=_text(params, "model"),
        provider=_text(params, "provider"),
        api_key_id=api_key,
        credential=_text(params, "credential"),
    )


def encode_cursor(event: Event) -> str:
    micros = int(event.ts.timestamp() * 1_000_000)
    return f"{micros}.{event.event_id}"


def decode_cursor(raw: str | None) -> tuple[datetime, str] | None:
    if not raw:
        return None
    try:
        micros, event_id = raw.split(".", 1)
        at = datetime.fromtimestamp(int(micros) / 1_000_000, UTC)
        return at, str(uuid.UUID(event_id))
    except (ValueError, OverflowError, OSError) as exc:
        raise ValidationFailed(
            "before is not a cursor from a previous page",
            details=[{"field": "before", "message": "invalid cursor"}],
        ) from exc


async def event_page(
    conn: Connection, scope: Scope, *, before: str | None, limit: int
) -> EventPage:
    """One page of raw events, newest first; `next_cursor` pages further back."""
    return await _event_page(conn, scope, decode_cursor(before), limit)


async def _event_page(
    conn: Connection, scope: Scope, before: tuple[datetime, str] | None, limit: int
) -> EventPage:
    items = await events_q.latest(conn, scope, before=before, limit=limit)
    more = len(items) == limit and limit > 0
    return EventPage(items, encode_cursor(items[-1]) if more else None)


def _series(window: Window, groups: list[Group]) -> list[Point]:
    """One point per bucket of the window, zero where nothing happened."""
    found = {g.bucket: g for g in groups if g.kind == "series" and g.bucket is not None}
    return [Point(start, found.get(start, EMPTY)) for start in window.bucket_starts()]


def _totals(groups: list[Group]) -> Metrics:
    return next((g for g in groups if g.kind == "total"), EMPTY)


async def _rows(conn: Connection, groups: list[Group], at: datetime) -> dict[str, list[Row]]:
    by_kind: dict[str, list[Group]] = {name: [] for name in BREAKDOWNS}
    for g in groups:
        name = _KIND_TO_BREAKDOWN.get(g.kind)
        if name is not None and g.requests > 0:
            by_kind[name].append(g)
    keys = await events_q.key_names(conn, [g.value or "" for g in by_kind["apiKey"] if g.value])
    owners = {k.user_id for k in keys.values()}
    users = await events_q.usernames(
        conn, sorted({g.user_id for g in by_kind["user"] if g.user_id is not None} | owners)
    )
    models = [(g.provider or "", g.value or "") for g in by_kind["model"]]
    unpriced = await events_q.unpriced(conn, models, at)
    rows: dict[str, list[Row]] = {
        "model": [
            Row(g.value or "", g.value or "(none)", g.provider, g,
                priced=(g.provider or "", g.value or "") not in unpriced)
            for g in by_kind["model"]
        ],
        "apiKey": [_key_row(g, keys, users) for g in by_kind["apiKey"]],
        "user": [
            Row("" if g.user_id is None else str(g.user_id),
                users.get(g.user_id, "(no owner)") if g.user_id is not None else "(no owner)",
                None, g)
            for g in by_kind["user"]
        ],
        "provider": [Row(g.provider or "", g.provider or "(none)", g.provider, g)
                     for g in by_kind["provider"]],
        "credential": [Row(g.value or "", g.value or "(none)", g.provider, g)
                       for g in by_kind["credential"]],
    }  # fmt: skip
    for name in rows:
        rows[name].sort(key=lambda r: (-r.metrics.cost_usd, -r.metrics.requests, r.label))
    return rows


def _key_row(g: Group, keys: dict[str, events_q.KeyName], users: dict[int, str]) -> Row:
    key_id = g.value or ""
    known = keys.get(key_id)
    if known is None:
        label = "(no client key)" if key_id == "" else f"unknown key {key_id[:8]}…"
        return Row(key_id, label, None, g)
    return Row(key_id, known.name, None, g, owner=users.get(known.user_id), revoked=known.revoked)


T = TypeVar("T")


def _tuned(read: Callable[[Connection], Awaitable[T]]) -> Callable[[Connection], Awaitable[T]]:
    async def run(conn: Connection) -> T:
        await history_q.tune(conn)
        return await read(conn)

    return run


async def _events(
    snap: Snapshot, scope: Scope, before: tuple[datetime, str] | None, limit: int
) -> EventPage | None:
    if not limit:
        return None
    return await snap.read(_tuned(lambda conn: _event_page(conn, scope, before, limit)))


async def report(
    pool: Pool,
    window: Window,
    scope: Scope,
    *,
    events_limit: int = DEFAULT_EVENTS,
    before: str | None = None,
) -> Report:
    """Everything the usage page shows for a window and scope, as of one instant.

    The series, the breakdowns and the event list are independent reads, so they run at once
    on three pooled connections; all of them (and the names and the collector's state read
    afterwards) share one exported snapshot, so a collector commit landing between them cannot
    make the totals disagree with the tables or the request list."""
    cursor = decode_cursor(before)  # a bad cursor is a 400 before any query runs
    async with shared_snapshot(pool) as snap:
        series, dims, page = await asyncio.gather(
            snap.lead(_tuned(lambda conn: history_q.totals_and_series(conn, scope))),
            snap.read(_tuned(lambda conn: history_q.breakdowns(conn, scope))),
            _events(snap, scope, cursor, events_limit),
        )
        groups = [*series, *dims]
        rows = await snap.lead(lambda conn: _rows(conn, groups, window.end))
        collector = await snap.lead(events_q.freshness)
    return Report(window, scope, _totals(groups), _series(window, groups), rows, page, collector)


async def summary(pool: Pool, window: Window, scope: Scope) -> Report:
    """Totals and the series only (the overview's usage card), with the collector's state read
    in the same snapshot."""
    async with shared_snapshot(pool) as snap:
        groups = await snap.lead(_tuned(lambda conn: history_q.totals_and_series(conn, scope)))
        collector = await snap.lead(events_q.freshness)
    return Report(window, scope, _totals(groups), _series(window, groups), collector=collector)
