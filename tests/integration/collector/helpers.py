"""Shared checks for collector tests: recount rollups from raw events, build settings."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable

from services.collector.settings import CollectorSettings
from services.collector.usage_events import TOKEN_COLUMNS
from services.core.db import Connection
from services.core.latency_histogram import HIST_BUCKETS

API_KEY = "collector-test-key-0123456789"
_METRICS = ", ".join(
    ["count(*)", "count(*) FILTER (WHERE failed)"]
    + [f"sum({c})" for c in TOKEN_COLUMNS]
    + ["sum(cost_usd)", "coalesce(sum(latency_ms), 0)", "count(latency_ms)", "max(latency_ms)"]
    + ["min(latency_ms)"]
    + ["coalesce(sum(ttft_ms), 0)", "count(ttft_ms)"]
    + [
        "ARRAY["
        + ", ".join(
            f"count(*) FILTER (WHERE width_bucket(latency_ms, usage_latency_bounds()) = {i})"
            for i in range(1, HIST_BUCKETS + 1)
        )
        + "]::bigint[]"
    ]
)
_STORED = ", ".join(
    [
        *("requests", "failures", *TOKEN_COLUMNS, "cost_usd", "latency_ms_sum", "latency_count"),
        *("latency_ms_max", "latency_ms_min", "ttft_ms_sum", "ttft_count", "latency_hist"),
    ]
)


def _recount_dims(unit: str, owner: str = "user_id, ") -> str:
    """One dimension at a time, per owner or (owner="") for everyone together."""
    start = f"date_trunc('{unit}', ts, 'UTC')"
    return " UNION ALL ".join(
        f"SELECT {start}, {owner}'{dim}', {provider}, {value}, {_METRICS} FROM usage_events"
        f" GROUP BY 1, {owner}{groups}"
        for dim, provider, value, groups in [
            ("model", "provider", "model", "provider, model"),
            ("api_key", "''", "api_key_id", "api_key_id"),
            ("credential", "provider", "auth_index", "provider, auth_index"),
        ]
    )


def _recount_full(unit: str) -> str:
    return (
        f"SELECT date_trunc('{unit}', ts, 'UTC'), user_id, api_key_id, provider, model,"
        f" auth_index, {_METRICS} FROM usage_events GROUP BY 1, 2, 3, 4, 5, 6"
    )


_DIMS_STORED = "bucket_start, user_id, dimension, provider, value"
# rollup table -> (recount from usage_events, the same columns read from the rollup)
_ROLLUPS = {
    "usage_hourly": (
        _recount_full("hour"),
        f"SELECT bucket_start, user_id, api_key_id, provider, model, credential, {_STORED}"
        " FROM usage_hourly",
    ),
    "usage_daily": (
        _recount_full("day"),
        f"SELECT bucket_start, user_id, api_key_id, provider, model, credential, {_STORED}"
        " FROM usage_daily",
    ),
    "usage_hourly_users": (
        f"SELECT date_trunc('hour', ts, 'UTC'), user_id, {_METRICS} FROM usage_events"
        " GROUP BY 1, 2",
        f"SELECT bucket_start, user_id, {_STORED} FROM usage_hourly_users",
    ),
    "usage_hourly_dims": (
        _recount_dims("hour"),
        f"SELECT {_DIMS_STORED}, {_STORED} FROM usage_hourly_dims",
    ),
    "usage_daily_dims": (
        _recount_dims("day"),
        f"SELECT {_DIMS_STORED}, {_STORED} FROM usage_daily_dims",
    ),
    "usage_hourly_dim_totals": (
        _recount_dims("hour", owner=""),
        f"SELECT bucket_start, dimension, provider, value, {_STORED} FROM usage_hourly_dim_totals",
    ),
}
ROLLUP_TABLES = tuple(_ROLLUPS)
ALL_MATCH = dict.fromkeys(ROLLUP_TABLES, 0)


def settings_for(database_url: str, *urls: str, **overrides: object) -> CollectorSettings:
    """Collector settings for tests: fast backoff and standby retry, a free health port."""
    values: dict[str, object] = {
        "database_url": database_url,
        "proxy_urls": ",".join(urls),
        "collector_api_key": API_KEY,
        "batch_size": 200,
        "idle_interval_s": 0.2,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5,
        "standby_retry_s": 0.1,
        "health_port": 0,
        "retention_months": 0,
    }
    values.update(overrides)
    return CollectorSettings.model_validate(values)


async def rollup_mismatches(conn: Connection) -> dict[str, int]:
    """For every rollup table, how many groups differ from a recount of usage_events."""
    found = {}
    for table, (recount, stored) in _ROLLUPS.items():
        expected = await (await conn.execute(recount)).fetchall()
        actual = await (await conn.execute(stored)).fetchall()
        found[table] = len(_as_set(expected) ^ _as_set(actual))
    return found


def _as_set(rows: list[tuple[object, ...]]) -> set[tuple[object, ...]]:
    return {tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in rows}


async def stored_event_ids(conn: Connection) -> list[str]:
    cur = await conn.execute("SELECT event_id::text FROM usage_events")
    return [row[0] for row in await cur.fetchall()]


async def add_user_with_keys(conn: Connection, username: str, key_ids: list[str]) -> int:
    """A user owning client keys whose sha256 starts with each 16-hex `key_ids` entry."""
    cur = await conn.execute(
        "INSERT INTO users (username, password_hash, role) VALUES (%s, 'x', 'user') RETURNING id",
        (username,),
    )
    row = await cur.fetchone()
    assert row is not None
    for key_id in key_ids:
        digest = key_id + hashlib.sha256(key_id.encode()).hexdigest()[16:]
        await conn.execute(
            "INSERT INTO user_api_keys (user_id, name, key_sha256, display_prefix)"
            " VALUES (%s, %s, %s, 'sk-test')",
            (row[0], f"key {key_id}", digest),
        )
    return int(row[0])


async def eventually(
    check: Callable[[], object], *, within: float = 20.0, what: str = "condition"
) -> float:
    """Poll `check` (sync or async) until truthy; return the seconds it took."""
    started = time.monotonic()
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)
