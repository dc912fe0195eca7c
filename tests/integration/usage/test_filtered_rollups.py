"""Migration 0010 builds usage_daily and usage_hourly_dim_totals from the rollups a database
already holds, row for row what the collector keeps in them from then on."""

from __future__ import annotations

import asyncio
import random
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from services.core.db import connect
from services.core.migrate import MIGRATIONS_DIR, migrate
from tests.integration.collector.helpers import ALL_MATCH, rollup_mismatches
from tests.integration.usage.seed import key_id_for, random_events, store

NEW_TABLES = ("usage_daily", "usage_hourly_dim_totals")
SOURCES = ("usage_hourly", "usage_hourly_dims")  # what 0010 reads


def _copy(table: str, source: psycopg.Connection[Any], target: psycopg.Connection[Any]) -> None:
    columns = ", ".join(
        name
        for (name,) in source.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
            (table,),
        )
    )
    with (
        source.cursor().copy(f"COPY {table} ({columns}) TO STDOUT") as out,
        target.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as into,
    ):
        for block in out:
            into.write(block)


def _rows(conn: psycopg.Connection[Any], table: str) -> set[tuple[object, ...]]:
    return {
        tuple(tuple(v) if isinstance(v, list) else v for v in row)
        for row in conn.execute(f"SELECT * FROM {table}")
    }


async def _mismatches(dsn: str) -> dict[str, int]:
    async with await connect(dsn) as conn:
        return await rollup_mismatches(conn)


def test_backfill_equals_what_the_collector_keeps(
    usage_dsn: str, empty_database_url: str, tmp_path: Path
) -> None:
    keys = [key_id_for(name) for name in ("a", "b", "c")] + [""]
    events = random_events(random.Random(19), 600, keys, datetime.now(UTC), days=10)
    assert store(usage_dsn, events) == len(events)
    assert asyncio.run(_mismatches(usage_dsn)) == ALL_MATCH  # the collector's rollups are right

    for path in sorted(MIGRATIONS_DIR.glob("000[1-9]_*.sql")):
        shutil.copy(path, tmp_path / path.name)
    asyncio.run(migrate(empty_database_url, tmp_path))
    with (
        psycopg.connect(usage_dsn) as current,
        psycopg.connect(empty_database_url, autocommit=True) as old,
    ):
        for table in SOURCES:
            _copy(table, current, old)
        shutil.copy(MIGRATIONS_DIR / "0010_usage_filtered_history.sql", tmp_path)
        assert asyncio.run(migrate(empty_database_url, tmp_path)) == ["0010_usage_filtered_history"]
        for table in NEW_TABLES:
            expected = _rows(current, table)
            assert expected, table
            assert _rows(old, table) == expected, table
