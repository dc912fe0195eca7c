"""Migrations: apply on an empty database, re-apply is a no-op, concurrent runners are safe."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from services.core.migrate import migrate, read_migrations

ROOT = Path(__file__).resolve().parents[3]


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


async def test_apply_on_empty_database_creates_the_schema(empty_database_url):
    """Every file is applied once and recorded; the product's tables exist."""
    applied = await migrate(empty_database_url)
    assert applied == [version for version, _ in read_migrations()]
    tables = _tables(empty_database_url)
    expected = {
        "users", "sessions", "rate_limit_counters", "user_api_keys", "provider_keys",
        "custom_providers", "custom_provider_models", "custom_provider_excluded_models",
        "provider_groups", "oauth_accounts", "model_preferences", "system_settings",
        "audit_log", "model_pricing", "usage_hourly", "usage_hourly_users",
        "usage_hourly_dims", "usage_daily_dims", "usage_daily", "usage_hourly_dim_totals",
        "usage_events_rejected", "collector_cursors", "collector_state", "schema_migrations",
    }  # fmt: skip
    assert expected <= tables


async def test_reapply_is_a_noop(empty_database_url):
    """A second run applies nothing and changes nothing."""
    await migrate(empty_database_url)
    assert await migrate(empty_database_url) == []
    with psycopg.connect(empty_database_url) as conn:
        (count,) = conn.execute("SELECT count(*) FROM schema_migrations").fetchone() or (0,)
    assert count == len(read_migrations())


async def test_four_concurrent_runners_apply_each_file_exactly_once(empty_database_url, tmp_path):
    """Four callers at once: the files' effects happen once, and exactly one caller applies."""
    (tmp_path / "0001_counter.sql").write_text(
        "CREATE TABLE applied_count (n int);\nINSERT INTO applied_count VALUES (1);\n"
    )
    (tmp_path / "0002_more.sql").write_text("INSERT INTO applied_count VALUES (2);\n")
    results = await asyncio.gather(*(migrate(empty_database_url, tmp_path) for _ in range(4)))
    assert sorted(len(r) for r in results) == [0, 0, 0, 2]
    with psycopg.connect(empty_database_url) as conn:
        rows = conn.execute("SELECT n FROM applied_count ORDER BY n").fetchall()
    assert rows == [(1,), (2,)]


async def test_four_concurrent_processes_apply_the_real_schema_once(empty_database_url):
    """`python -m services.core.migrate` run four times at once leaves one record per file."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.core.migrate", cwd=ROOT,
            env={"DATABASE_URL": empty_database_url, "PATH": "/usr/bin:/bin"},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]  # fmt: skip
    outputs = [await proc.communicate() for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, outputs
    with psycopg.connect(empty_database_url) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    assert [v for (v,) in rows] == [version for version, _ in read_migrations()]


async def test_failing_file_leaves_no_trace(empty_database_url, tmp_path):
    """A broken migration rolls back entirely and is not recorded."""
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE ok_table (n int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half_done (n int); SELECT nonsense;")
    with pytest.raises(psycopg.errors.UndefinedColumn):
        await migrate(empty_database_url, tmp_path)
    assert "half_done" not in _tables(empty_database_url)
    assert "ok_table" in _tables(empty_database_url)
    with psycopg.connect(empty_database_url) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
    assert rows == [("0001_ok",)]


async def test_fresh_test_database_is_migrated(db_conn):
    """The shared `database_url` fixture hands out a migrated database."""
    cur = await db_conn.execute("SELECT count(*) FROM schema_migrations")
    assert (await cur.fetchone()) == (len(read_migrations()),)
