"""What the Logs page and API share: the query (source, level, search, limit, cursor) and
reading either the proxies' logs or this replica's own."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from services.core.errors import ValidationFailed
from services.dashboard.accounts import audit, guard
from services.dashboard.accounts.queries.users import User
from services.dashboard.logs import proxy_logs
from services.dashboard.logs.proxy_logs import Entry, Filter, Page
from services.dashboard.logs.ring import RING
from services.dashboard.proxies.link import link
from services.dashboard.web import deps
from services.dashboard.web.inputs import int_param

SOURCES = ("proxy", "dashboard")
MAX_LINES = 2000


@dataclass(frozen=True, slots=True)
class Query:
    source: str
    keep: Filter
    limit: int
    cursor: str | None


def query(request: Request) -> Query:
    params = request.query_params
    source = params.get("source") or "proxy"
    if source not in SOURCES:
        raise ValidationFailed(
            "source must be proxy or dashboard",
            details=[{"field": "source", "message": "invalid"}],
        )
    keep = proxy_logs.check_filter(params.get("level"), params.get("q"))
    limit = int_param(request, "limit", 200, 1, MAX_LINES)
    cursor = params.get("cursor") or None
    if cursor is not None and len(cursor) > 4096:
        raise ValidationFailed("the cursor is too long")
    return Query(source, keep, limit, cursor)


async def read(request: Request, q: Query) -> Page:
    if q.source == "dashboard":
        return own(q)
    return await proxy_logs.read(link(request).client, q.limit, q.cursor, q.keep)


def own(q: Query) -> Page:
    after = int(q.cursor) if q.cursor and q.cursor.isdigit() else 0
    records, last = RING.after(after, MAX_LINES if after else q.limit)
    entries = [Entry(RING.name, r.at, r.level, r.text) for r in records]
    kept = [e for e in entries if q.keep.keeps(e)]
    return Page(kept[-q.limit :], str(last), [])


async def clear(request: Request, admin: User, source: str) -> list[str]:
    """Clear the proxies' logs or this replica's ring (audited); returns the problems."""
    if source not in SOURCES:
        raise ValidationFailed("source must be proxy or dashboard")
    if source == "dashboard":
        RING.clear()
        problems: list[str] = []
    else:
        problems = await proxy_logs.clear(link(request).client)
    async with deps.pool(request).connection() as conn:
        await audit.record(
            conn, guard.actor(request, admin), "LOGS_CLEARED", "logs", source, problems=problems
        )
    return problems
