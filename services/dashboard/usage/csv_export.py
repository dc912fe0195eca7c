"""CSV export of the usage page's current view: the series, a breakdown, or the raw events.

Cells that a spreadsheet would read as a formula (=, +, -, @, tab, CR) are prefixed with a
quote: model names and key names come from users.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from typing import Any

from services.core.db import Pool
from services.dashboard.usage.history import BREAKDOWNS, Report, event_page
from services.dashboard.usage.queries.history import EMPTY, Scope
from services.dashboard.usage.report_json import event_json, metrics_json, point_json, row_json
from services.dashboard.usage.window import Window

KINDS = ("series", *BREAKDOWNS, "events")
MAX_EVENT_ROWS = 100_000
_PAGE = 500
METRIC_COLUMNS = list(metrics_json(EMPTY))
_ROW_COLUMNS = {
    "series": ["start", "label"],
    "model": ["provider", "id", "label", "priced"],
    "apiKey": ["id", "label", "owner", "revoked"],
    "user": ["id", "label"],
    "provider": ["id"],
    "credential": ["provider", "id"],
}
_EVENT_COLUMNS = [
    *("timestamp", "eventId", "requestId", "username", "keyName", "apiKeyId", "provider"),
    *("credential", "source", "endpoint", "model", "alias", "statusCode", "failed", "stream"),
    *("latencyMs", "ttftMs", "input", "output", "cached", "reasoning", "cacheCreation", "total"),
    *("costUsd", "reasoningEffort", "serviceTier", "clientIp", "userAgent"),
]
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def _lines(header: list[str], rows: Iterable[dict[str, Any]]) -> Iterable[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in header])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def aggregate_csv(report: Report, kind: str) -> str:
    """The series or one breakdown of a report as CSV text."""
    header = [*_ROW_COLUMNS[kind], *METRIC_COLUMNS]
    if kind == "series":
        rows = [point_json(p, report.window) for p in report.series]
    else:
        rows = [{"priced": True, **row_json(r)} for r in report.breakdowns.get(kind, [])]
    return "".join(_lines(header, rows))


def _flat(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, **event.pop("tokens")}


async def events_csv(pool: Pool, window: Window, scope: Scope) -> AsyncIterator[str]:
    """Every raw event of the scope (newest first, at most MAX_EVENT_ROWS), streamed in pages."""
    yield "".join(_lines(_EVENT_COLUMNS, []))
    before: str | None = None
    sent = 0
    while sent < MAX_EVENT_ROWS:
        async with pool.connection() as conn:  # not held between pages
            page = await event_page(conn, scope, before=before, limit=_PAGE)
        rows = [_flat(event_json(e, window)) for e in page.items]
        chunk = "".join(_lines(_EVENT_COLUMNS, rows))
        yield chunk.split("\r\n", 1)[1]  # without the header line
        sent += len(rows)
        if page.next_cursor is None:
            return
        before = page.next_cursor
