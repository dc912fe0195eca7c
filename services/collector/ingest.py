"""Store one page of one proxy: events, rollups, set-aside events and the cursor in ONE
transaction, commit, then ack. Any crash repeats work; the unique key makes repeats no-ops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import structlog

from services.collector import bookkeeping, usage_events
from services.collector.bookkeeping import Cursor, RejectedEvent
from services.collector.events import Rejected, TimeWindow, parse_event
from services.collector.sources import Page, SourceError, UsageSource
from services.collector.usage_events import EventRow
from services.core.db import Connection

log = structlog.get_logger(__name__)

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """A fetched page, validated: rows to insert and events to set aside."""

    cursor: Cursor  # where the page starts (its `after`)
    page: Page
    good: list[EventRow]
    bad: list[RejectedEvent]

    @property
    def next_seq(self) -> int:
        return max(self.cursor.last_seq, self.page.next)


@dataclass(frozen=True, slots=True)
class PageResult:
    """What storing one page did."""

    instance_id: str
    cursor: int
    received: int
    inserted: int
    rejected: int
    more: bool  # the page had events: more are probably waiting


def retention_cutoff(now: datetime, retention_months: int) -> datetime:
    """First instant kept in raw events: the start of the month `retention_months` ago."""
    if retention_months <= 0:
        return _EPOCH
    months = now.year * 12 + (now.month - 1) - retention_months
    return datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC)


class PageStore:
    """Turns pages into committed rows for one collector connection."""

    def __init__(self, *, retention_months: int, max_future: timedelta) -> None:
        self.retention_months = retention_months
        self.max_future = max_future
        self._months: set[tuple[int, int]] = set()  # partitions known to exist

    def forget_partitions(self) -> None:
        """Called after a database error: a partition may have been dropped meanwhile."""
        self._months.clear()

    def window(self, now: datetime) -> TimeWindow:
        return TimeWindow(retention_cutoff(now, self.retention_months), now + self.max_future)

    def parse(self, cursor: Cursor, page: Page) -> ParsedPage:
        """Validate every event of a page (CPU only; runs while the database works)."""
        window = self.window(datetime.now(UTC))
        good: list[EventRow] = []
        bad: list[RejectedEvent] = []
        for raw in page.events:
            parsed = parse_event(raw, page.instance_id, window)
            if isinstance(parsed, Rejected):
                bad.append(_rejected(page.instance_id, parsed))
            else:
                good.append(parsed)
        return ParsedPage(cursor, page, good, bad)

    async def store(self, conn: Connection, parsed: ParsedPage) -> PageResult:
        """Write the page's rows, rollups, set-aside events and cursor in one transaction."""
        cursor, bad = parsed.cursor, list(parsed.bad)
        await self._ensure_partitions(conn, parsed.good)
        async with conn.transaction():
            inserted, refused = await _record(conn, parsed.good)
            bad.extend(refused)
            rejected = await bookkeeping.record_rejected(conn, bad)
            newest = max((e.ts for e in parsed.good), default=None)
            target = Cursor(cursor.instance_id, cursor.proxy_url, parsed.next_seq)
            seq = await bookkeeping.advance_cursor(
                conn, target, stored=inserted, newest_event_at=newest
            )
            await bookkeeping.mark_run(
                conn, status="collecting", stored=inserted, rejected=rejected
            )
        if bad:
            log.warning("usage_events_rejected", proxy=cursor.proxy_url, count=len(bad),
                        reasons=sorted({item.reason for item in bad}))  # fmt: skip
        return PageResult(
            instance_id=cursor.instance_id,
            cursor=seq,
            received=len(parsed.page.events),
            inserted=inserted,
            rejected=len(bad),
            more=bool(parsed.page.events),
        )

    async def _ensure_partitions(self, conn: Connection, events: list[EventRow]) -> None:
        months = {(e.ts.astimezone(UTC).year, e.ts.astimezone(UTC).month) for e in events}
        missing = sorted(months - self._months)
        if missing:
            firsts = [datetime(y, m, 1, tzinfo=UTC) for y, m in missing]
            await usage_events.ensure_partitions(conn, firsts)
            self._months.update(missing)


def _rejected(instance_id: str, item: Rejected) -> RejectedEvent:
    return RejectedEvent(instance_id, item.seq, item.event_id, item.reason, item.raw)


async def _record(conn: Connection, events: list[EventRow]) -> tuple[int, list[RejectedEvent]]:
    """Insert the batch; if the database refuses its data, insert one by one and set aside
    the events it refuses, so one bad value never blocks the queue."""
    try:
        async with conn.transaction():  # a savepoint: the fallback below starts clean
            return (await usage_events.store_rows(conn, events)).inserted, []
    except psycopg.errors.CheckViolation:
        raise  # usage_events has no CHECK: this is a missing partition, not bad data
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
        log.warning("usage_batch_refused", error=type(exc).__name__, events=len(events))
    inserted, refused = 0, []
    for event in events:
        try:
            async with conn.transaction():
                inserted += (await usage_events.store_rows(conn, [event])).inserted
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
            reason = f"database refused the event: {exc.sqlstate} {type(exc).__name__}"
            refused.append(RejectedEvent(event.instance_id, event.seq, str(event.event_id),
                                         reason, _as_json(event)))  # fmt: skip
    return inserted, refused


def _as_json(event: EventRow) -> dict[str, object]:
    """A JSON-able view of an event refused by the database, for the set-aside table."""
    fields = event._asdict()
    tokens = {name: fields.pop(name) for name in usage_events.TOKEN_COLUMNS}
    ts = fields.pop("ts")
    return {
        **fields,
        "event_id": str(event.event_id),
        "timestamp": ts.isoformat(),
        "tokens": tokens,
    }


async def fetch_page(
    conn: Connection, source: UsageSource, known: Cursor | None, limit: int
) -> tuple[Cursor, Page]:
    """Fetch the next page after the stored cursor of whatever instance answers at the URL.

    A proxy URL can start answering as another instance (a replaced replica): its own
    stored cursor is then looked up and the page fetched again from there. The instance is
    named in every fetch: a proxy with worker processes serves that outbox from any worker.
    """
    after = known.last_seq if known else 0
    page = await source.fetch(after, limit, known.instance_id if known else None)
    if known is not None and page.instance_id == known.instance_id:
        return known, page
    stored = await bookkeeping.get_cursor(conn, page.instance_id)
    cursor = Cursor(page.instance_id, source.url, stored.last_seq if stored else 0)
    if cursor.last_seq != after:
        page = await source.fetch(cursor.last_seq, limit, cursor.instance_id)
        if page.instance_id != cursor.instance_id:
            raise SourceError(f"{source.url}: instance changed twice during one fetch")
    return cursor, page
