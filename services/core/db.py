"""Postgres access shared by every service: the async connection pool and single connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

Connection = psycopg.AsyncConnection[TupleRow]
Pool = AsyncConnectionPool[Connection]


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
