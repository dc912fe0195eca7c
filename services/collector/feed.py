"""One proxy's page stream: fetch and validate the next page while the database stores this
one, and ack behind the commits, so the network, Python and Postgres work side by side.

Correctness never depends on the overlap: a page read ahead is used only if it starts exactly
at the committed cursor, and an ack is sent only for a committed cursor.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from services.collector import bookkeeping
from services.collector.bookkeeping import Cursor
from services.collector.ingest import PageResult, PageStore, ParsedPage, fetch_page
from services.collector.sources import SourceError, UsageSource
from services.collector.status import ProxyStatus
from services.core.db import Connection

log = structlog.get_logger(__name__)


class ProxyFeed:
    """Pages of one outbox at one proxy URL, read one ahead, acked in order in the background.

    A proxy with worker processes has one outbox per worker; it lists them in `instances` and
    the collector runs one feed per outbox (`instance`), each with its own cursor.
    """

    def __init__(
        self,
        source: UsageSource,
        store: PageStore,
        status: ProxyStatus,
        limit: int,
        instance: str | None = None,
    ) -> None:
        self.source, self.store, self.status, self.limit = source, store, status, limit
        # The outbox this feed follows; it moves with the instance that answers the URL.
        self.instance = instance
        self.instances: tuple[str, ...] = ()  # the proxy's outboxes, from its latest answer
        self.cursor: Cursor | None = None  # committed position, None = ask the database
        self._ahead: asyncio.Task[ParsedPage | None] | None = None
        self._ack: asyncio.Task[None] | None = None
        self._ack_requested = 0

    async def next_page(self, conn: Connection) -> ParsedPage:
        """The page after the committed cursor: the one read ahead when it still fits."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            parsed = await ahead  # a SourceError here is the proxy's failure, as usual
            if parsed is not None and parsed.cursor == self.cursor:
                return parsed
        known = self.cursor or await self._stored_cursor(conn)
        cursor, page = await fetch_page(conn, self.source, known, self.limit)
        self.instances = page.instances
        return self.store.parse(cursor, page)

    async def _stored_cursor(self, conn: Connection) -> Cursor | None:
        if self.instance is None:
            return await bookkeeping.latest_cursor_for_url(conn, self.source.url)
        stored = await bookkeeping.get_cursor(conn, self.instance)
        return Cursor(self.instance, self.source.url, stored.last_seq if stored else 0)

    def read_ahead(self, parsed: ParsedPage) -> None:
        """Start fetching the page after `parsed` (only when `parsed` had events)."""
        if parsed.page.events:
            start = Cursor(parsed.cursor.instance_id, self.source.url, parsed.next_seq)
            self._ahead = asyncio.create_task(self._fetch_ahead(start))

    async def _fetch_ahead(self, start: Cursor) -> ParsedPage | None:
        page = await self.source.fetch(start.last_seq, self.limit, start.instance_id)
        if page.instance_id != start.instance_id:
            return None  # another instance answers now: the normal path sorts it out
        return self.store.parse(start, page)

    def committed(self, result: PageResult) -> None:
        """Remember the committed cursor and ack it behind any ack still in flight."""
        self.cursor = Cursor(result.instance_id, self.source.url, result.cursor)
        self.instance = result.instance_id
        if result.cursor > self._ack_requested:
            self._ack_requested = result.cursor
            self._ack = asyncio.create_task(
                self._send_ack(self._ack, result.instance_id, result.cursor)
            )

    async def _send_ack(
        self, previous: asyncio.Task[None] | None, instance: str, upto: int
    ) -> None:
        if previous is not None:
            await previous  # acks leave in cursor order
        try:
            await self.source.ack(instance, upto)
        except SourceError as exc:  # committed already: the next ack covers these events
            log.warning("usage_ack_failed", proxy=self.source.url, error=str(exc))
            self._ack_requested = min(self._ack_requested, upto - 1)
            return
        self.status.acked = max(self.status.acked or 0, upto)

    def reset(self) -> None:
        """After a database error: drop the page read ahead and re-read the cursor."""
        self.cursor = None
        _discard(self._ahead)
        self._ahead = None

    def abandon(self) -> None:
        """The replica went away: stop reading ahead and acking (what is committed stays
        committed; an ack not sent only leaves events that a later ack or replay covers)."""
        self.reset()
        if self._ack is not None and not self._ack.done():
            self._ack.cancel()

    async def close(self) -> None:
        """Stop reading ahead and let the last ack reach the proxy."""
        self.reset()
        if self._ack is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._ack


def _discard(task: asyncio.Task[ParsedPage | None] | None) -> None:
    if task is None:
        return
    if task.done():
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not report it as lost
    else:
        task.cancel()
