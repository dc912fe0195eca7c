"""Postgres access shared by every service: the async connection pool and single connections."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

Connection = psycopg.AsyncConnection[TupleRow]
Pool = AsyncConnectionPool[Connection]
T = TypeVar("T")
_READ_ONLY_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
# The advisory lock the leading collector holds (any constant every collector shares; not the
# migration lock): the dashboard's health reads it from pg_locks.
COLLECTOR_LEADER_LOCK = 7_402_213


@asynccontextmanager
async def open_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    name: str | None = None,
    wait: bool = True,
    open_timeout: float = 10.0,
    **connect_kwargs: Any,
) -> AsyncIterator[Pool]:
    """Open a pool for the lifetime of the block and close it afterwards.

    `wait=True` fails fast (PoolTimeout after `open_timeout` s) when the database is unreachable at
    start; connections are checked on checkout, so a Postgres restart costs one retry, not a
    broken pool. Sessions run in UTC so `date_trunc` and hour buckets never depend on the host.
    """
    kwargs = {"options": "-c TimeZone=UTC", **connect_kwargs}
    pool: Pool = AsyncConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        name=name,
        kwargs=kwargs,
        open=False,
        timeout=open_timeout,
        check=AsyncConnectionPool.check_connection,
    )
    await pool.open(wait=wait, timeout=open_timeout)
    try:
        yield pool
    finally:
        await pool.close()


async def connect(dsn: str, *, autocommit: bool = False, **kwargs: Any) -> Connection:
    """One connection outside any pool (migrations, advisory locks, LISTEN), in UTC.

    Use as `async with await connect(dsn) as conn:`; closing it releases session locks.
    """
    options = kwargs.pop("options", "-c TimeZone=UTC")
    return await psycopg.AsyncConnection.connect(
        dsn, autocommit=autocommit, options=options, **kwargs
    )


class Snapshot:
    """One consistent view of the database shared by several pooled connections.

    The lead connection's REPEATABLE READ transaction exports its snapshot
    (`pg_export_snapshot`); every other read imports it (`SET TRANSACTION SNAPSHOT`), so reads
    running at once on different connections all see exactly the same committed rows, however
    the writers' commits fall between them.
    """

    def __init__(self, pool: Pool, lead: Connection, snapshot_id: str) -> None:
        self._pool = pool
        self._lead = lead
        self._id = snapshot_id

    async def lead(self, read: Callable[[Connection], Awaitable[T]]) -> T:
        """Run `read` on the lead connection (one read at a time there)."""
        return await read(self._lead)

    async def read(self, read: Callable[[Connection], Awaitable[T]]) -> T:
        """Run `read` on another pooled connection, in a transaction on the same snapshot."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(_READ_ONLY_SNAPSHOT)
            await conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(self._id)))
            return await read(conn)


@asynccontextmanager
async def shared_snapshot(pool: Pool) -> AsyncIterator[Snapshot]:
    """A `Snapshot` valid for the block: its reads see the database as of the block's start."""
    async with pool.connection() as lead, lead.transaction():
        await lead.execute(_READ_ONLY_SNAPSHOT)
        cur = await lead.execute("SELECT pg_export_snapshot()")
        row = await cur.fetchone()
        assert row is not None
        yield Snapshot(pool, lead, str(row[0]))
