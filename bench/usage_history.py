"""Benchmark: GET /api/usage/history on 10 million events over 90 days and 200 client keys.

    python -m bench.usage_history [--events 10000000] [--raw-days 30] [--runs 40] [--no-previous]
        [--only TEXT]   # the cases whose name holds TEXT
    BENCH_DATABASE_URL=... python -m bench.usage_history --reuse   # data of an earlier run

1. Data, generated in Postgres with generate_series (not through the collector): the hourly
   rollup usage_hourly for `--events` events (90 days x 200 keys x 2 models per key and
   hour, 20 users), the other rollups derived from it exactly as the collector builds them,
   and the raw events of the last `--raw-days` days at the same rate (30 days: 3.3 million)
   in month partitions, loaded, then indexed and attached. `--raw-days 90` stores all 10
   million (about 3 more minutes); the event list reads the newest rows by index either way.
2. The real dashboard app (Starlette, in-process through httpx's ASGI transport, with its own
   pool and middleware) answers /api/usage/history for 7d and 30d windows, as an admin (every
   user) and as a user (own keys only), in Europe/Paris; prints p50/p95/max per case. Cases
   filtered by a model, provider, key or credential also run through the reads they used before
   migration 0010 (bench/history_baseline.py), alternating with the current ones run by run,
   and print the ratio.
Uses a throwaway cluster from tools/localpg unless BENCH_DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nacl.pwhash

from bench.history_baseline import previous_reads
from services.core.db import connect
from services.core.latency_histogram import HIST_BUCKETS
from services.core.migrate import migrate
from tests.integration.dashboard.conftest import PASSWORD
from tests.integration.usage.asgi import dashboard, sign_in
from tools import localpg

USERS = 20
# Share of requests per latency bucket (sums to 1, one per LATENCY_BOUNDS_MS bucket), so
# histograms look like real traffic: a few fast answers, most between 0.25 s and 20 s.
HIST_SHARE = (0, 0, 0, 0, 0.002, 0.003, 0.005, 0.005, 0.005, 0.01, 0.02, 0.05, 0.08, 0.1,
              0.1, 0.12, 0.12, 0.1, 0.1, 0.07, 0.05, 0.03, 0.015, 0.008, 0.004, 0.002,
              0.001)  # fmt: skip
assert len(HIST_SHARE) == HIST_BUCKETS and abs(sum(HIST_SHARE) - 1) < 1e-9
METRICS = (
    "requests, failures, input_tokens, output_tokens, reasoning_tokens, cached_tokens,"
    " cache_read_tokens, cache_creation_tokens, total_tokens, cost_usd, latency_ms_sum,"
    " latency_count, latency_ms_max, latency_ms_min, ttft_ms_sum, ttft_count, latency_hist"
)
SUMS = (
    "sum(requests), sum(failures), sum(input_tokens), sum(output_tokens),"
    " sum(reasoning_tokens), sum(cached_tokens), sum(cache_read_tokens),"
    " sum(cache_creation_tokens), sum(total_tokens), sum(cost_usd), sum(latency_ms_sum),"
    " sum(latency_count), max(latency_ms_max), min(latency_ms_min), sum(ttft_ms_sum),"
    " sum(ttft_count), ARRAY["
    + ", ".join(f"sum(latency_hist[{i}])::bigint" for i in range(1, HIST_BUCKETS + 1))
    + "]"
)


def _hourly_sql(events: int, keys: int, start: datetime, hours: int) -> str:
    """usage_hourly: every hour x key x 2 models, `events` requests in all (about)."""
    per_row = events / (hours * keys * 2)  # two models per key and hour
    hist = ", ".join(f"(r * {share})::bigint" for share in HIST_SHARE)
    return f"""
    INSERT INTO usage_hourly (bucket_start, user_id, api_key_id, provider, model, credential,
        {METRICS})
    SELECT h, 2 + k % {USERS}, lpad(to_hex(k), 16, '0'), 'p' || (m % 4), 'model-' || m,
           'cred-' || (m % 4) || '-' || (k % 3),
           r, r / 20, r * 900, r * 300, r * 20, r * 200, r * 200, r * 10, r * 1200,
           r * 0.0072, r * 2600, r, 60000, 4, r * 400, r, ARRAY[{hist}]
    FROM (SELECT h, k, m, greatest(1, ({per_row} * (0.5 + random()))::bigint) AS r
          FROM generate_series('{start.isoformat()}'::timestamptz,
                               '{start.isoformat()}'::timestamptz + interval '{hours - 1} hours',
                               interval '1 hour') AS h,
               generate_series(1, {keys}) AS k,
               LATERAL (SELECT DISTINCT (k + extract(hour FROM h)::int + j * 3) % 8 AS m
                        FROM generate_series(0, 1) AS j) AS models) g;
    """


def _derived_sql() -> str:
    """The other rollups from usage_hourly, grouped the way the collector folds events."""
    parts = [("model", "provider", "model"), ("api_key", "''", "api_key_id"),
             ("credential", "provider", "credential")]  # fmt: skip

    def dims(table: str, unit: str) -> str:
        selects = " UNION ALL ".join(
            f"SELECT date_trunc('{unit}', bucket_start, 'UTC'), user_id, '{d}', {p}, {v}, {SUMS}"
            " FROM usage_hourly GROUP BY 1, 2, 4, 5"
            for d, p, v in parts
        )
        return (
            f"INSERT INTO {table} (bucket_start, user_id, dimension, provider, value, {METRICS})"
            f" {selects};"
        )

    return f"""
    INSERT INTO usage_hourly_users (bucket_start, user_id, {METRICS})
      SELECT bucket_start, user_id, {SUMS} FROM usage_hourly GROUP BY 1, 2;
    {dims("usage_hourly_dims", "hour")}
    {dims("usage_daily_dims", "day")}
    INSERT INTO usage_daily (bucket_start, user_id, api_key_id, provider, model, credential,
        {METRICS})
      SELECT date_trunc('day', bucket_start, 'UTC'), user_id, api_key_id, provider, model,
        credential, {SUMS} FROM usage_hourly GROUP BY 1, 2, 3, 4, 5, 6;
    INSERT INTO usage_hourly_dim_totals (bucket_start, dimension, provider, value, {METRICS})
      SELECT bucket_start, dimension, provider, value, {SUMS} FROM usage_hourly_dims
      GROUP BY 1, 2, 3, 4;
    """


def _raw_sql(table: str, count: int, lo: datetime, hi: datetime, keys: int) -> str:
    """`count` raw events spread over [lo, hi) into a plain table shaped like usage_events."""
    span = (hi - lo).total_seconds()
    return f"""
    INSERT INTO {table} (event_id, ts, instance_id, seq, request_id, api_key_id, user_key_id,
        user_id, provider, executor_type, auth_type, auth_index, source, endpoint, model, alias,
        latency_ms, ttft_ms, stream, failed, status_code, input_tokens, output_tokens,
        reasoning_tokens, cached_tokens, cache_read_tokens, cache_creation_tokens, total_tokens,
        cost_usd, client_ip, user_agent)
    SELECT gen_random_uuid(), '{lo.isoformat()}'::timestamptz + t * interval '1 second',
           'bench', i, 'req-' || i, lpad(to_hex(k), 16, '0'), k, 2 + k % {USERS},
           'p' || (m % 4), 'p' || (m % 4), 'api_key', 'cred-' || (m % 4) || '-' || (k % 3),
           'us***@example.com', '/v1/chat/completions', 'model-' || m, 'model-' || m,
           (50 + random() * 30000)::int, (20 + random() * 2000)::int, i % 2 = 0, f,
           CASE WHEN f THEN 502 ELSE 200 END, inp, outp, outp / 5, inp / 4, inp / 4, 0,
           inp + outp, (inp * 3 + outp * 15) / 1e6, '203.0.113.7', 'bench'
    FROM (SELECT i, random() * {span} AS t, 1 + (i * 7919) % {keys} AS k, i % 8 AS m,
                 i % 20 = 0 AS f, 100 + (i * 31) % 4000 AS inp, (i * 17) % 1500 AS outp
          FROM generate_series(1::bigint, {count}) AS i) g
    """


def _months(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    lo = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    months = []
    while lo < end:
        hi = (lo + timedelta(days=32)).replace(day=1)
        months.append((lo, hi))
        lo = hi
    return months


async def load_raw(dsn: str, total: int, start: datetime, end: datetime, keys: int) -> None:
    """Month partitions loaded as plain tables first, then attached: Postgres builds their
    indexes once, in bulk, instead of row by row (about 3x faster)."""
    months = _months(start, end)
    span = (end - start).total_seconds()
    async with await connect(dsn, autocommit=True) as conn:
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for lo, hi in months:
            name = f"usage_events_{lo:%Y_%m}"
            part_lo, part_hi = max(lo, start), min(hi, end)
            count = round(total * (part_hi - part_lo).total_seconds() / span)
            await conn.execute(f"CREATE TABLE {name} (LIKE usage_events INCLUDING DEFAULTS)")
            await conn.execute(_raw_sql(name, count, part_lo, part_hi, keys).encode())
            await conn.execute(
                f"ALTER TABLE usage_events ATTACH PARTITION {name}"
                f" FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
            )


async def make_users(dsn: str, keys: int) -> None:
    """An admin (id 1) and 20 users (ids 2..21, user2..user21) owning the keys."""
    digest = nacl.pwhash.argon2id.str(PASSWORD.encode()).decode()
    async with await connect(dsn, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO users (username, password_hash, role) VALUES ('admin', %s, 'admin')",
            (digest,),
        )
        await conn.execute(
            "INSERT INTO users (username, password_hash) SELECT 'user' || n, %s"
            " FROM generate_series(2, %s) AS n",
            (digest, USERS + 1),
        )
        await conn.execute(
            "INSERT INTO user_api_keys (user_id, name, key_sha256, display_prefix)"
            " SELECT 2 + k %% %s, 'key-' || k, lpad(to_hex(k), 16, '0') || repeat('0', 48),"
            " 'sk-bench' FROM generate_series(1, %s) AS k",
            (USERS, keys),
        )


async def generate(dsn: str, args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(days=args.days)
    async with await connect(dsn, autocommit=True) as conn:
        t0 = time.monotonic()
        await conn.execute(_hourly_sql(args.events, args.keys, start, args.days * 24).encode())
        await conn.execute(_derived_sql().encode())
        t1 = time.monotonic()
    if args.raw_days:
        raw_start = max(start, now - timedelta(days=args.raw_days))
        share = (now - raw_start) / (now - start)
        await load_raw(dsn, round(args.events * share), raw_start, now, args.keys)
    t2 = time.monotonic()
    async with await connect(dsn, autocommit=True) as conn:
        await conn.execute("VACUUM ANALYZE")
        cur = await conn.execute(
            "SELECT (SELECT sum(requests) FROM usage_hourly), (SELECT count(*) FROM usage_hourly),"
            " (SELECT count(*) FROM usage_hourly_users), (SELECT count(*) FROM usage_hourly_dims),"
            " (SELECT count(*) FROM usage_daily_dims), (SELECT count(*) FROM usage_daily),"
            " (SELECT count(*) FROM usage_hourly_dim_totals), (SELECT count(*) FROM usage_events),"
            " pg_size_pretty(pg_database_size(current_database()))"
        )
        events, hourly, users, hdims, ddims, daily, totals, raw, size = (await cur.fetchone()) or ()
    print(f"rollups for {events:,} events over {args.days} days ({args.keys} keys, {USERS} users)"
          f" in {t1 - t0:.0f}s: usage_hourly {hourly:,} rows, usage_hourly_users {users:,},"
          f" usage_hourly_dims {hdims:,}, usage_daily_dims {ddims:,}, usage_daily {daily:,},"
          f" usage_hourly_dim_totals {totals:,}")  # fmt: skip
    print(f"raw events: {raw:,} in month partitions, loaded in {t2 - t1:.0f}s;"
          f" database {size}")  # fmt: skip


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


# Filters that match rollups and raw events alike. The raw events give user7 (keys 5, 25, 45,
# ...) only models 0 and 4, so the user's cases filter by those; key 17 (0x11) is user19's.
FILTERS = {
    "admin": {
        "model": "model=model-3",
        "provider": "provider=p1",
        "key": "apiKey=0000000000000011",
        "credential": "credential=cred-1-2",
    },
    "user": {
        "model": "model=model-4",
        "provider": "provider=p0",
        "key": "apiKey=0000000000000005",
        "credential": "credential=cred-0-2",
    },
}


def _cases(admin: dict[str, str], user: dict[str, str]) -> dict[str, tuple[dict[str, str], str]]:
    cases: dict[str, tuple[dict[str, str], str]] = {
        "7d admin": (admin, "window=7d"),
        "30d admin": (admin, "window=30d"),
        "7d user": (user, "window=7d"),
        "30d user": (user, "window=30d"),
        "24h admin": (admin, "window=24h"),
        "30d admin, hourly": (admin, "window=30d&bucket=hour"),
    }
    for days in (7, 30):
        for role, headers in (("admin", admin), ("user", user)):
            for name, query in FILTERS[role].items():
                cases[f"{days}d {role}, by {name}"] = (headers, f"window={days}d&{query}")
    cases["30d admin, model, New York"] = (admin, "window=30d&model=model-3&tz=America/New_York")
    return cases


async def measure(dsn: str, runs: int, previous: bool, only: str = "") -> None:
    """p50/p95/max per case; with `previous`, every filtered case also through the previous
    reads (bench/history_baseline.py), the two alternating run by run."""
    async with dashboard(dsn) as client:
        admin = await sign_in(client, "admin")
        user = await sign_in(client, "user7")
        print(f"GET /api/usage/history?tz=Europe/Paris&... ({runs} runs each, after 2 warm-ups)")
        for name, (headers, query) in _cases(admin, user).items():
            if only not in name:
                continue
            path = f"/api/usage/history?{query}"
            if "tz=" not in query:
                path += "&tz=Europe/Paris"
            both = (previous and "by " in name) or "model, New York" in name
            timings, before, size = await _time(client, headers, path, runs, both and previous)
            print(f"  {name:<28} {_figures(timings)}   ({size / 1024:.0f} KiB)")
            if before:
                ratio = statistics.median(before) / statistics.median(timings)
                label = "  previous reads"
                print(f"  {label:<28} {_figures(before)}   previous / current {ratio:.1f}x")


def _figures(timings: list[float]) -> str:
    p50, p95 = statistics.median(timings), _p(timings, 0.95)
    return f"p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   max {max(timings):6.1f} ms"


async def _get(client: httpx.AsyncClient, headers: dict[str, str], path: str) -> float:
    started = time.perf_counter()
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return (time.perf_counter() - started) * 1000


async def _time(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, runs: int, previous: bool
) -> tuple[list[float], list[float], int]:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    size = len(response.content)
    await _get(client, headers, path)
    timings: list[float] = []
    before: list[float] = []
    for _ in range(runs):
        timings.append(await _get(client, headers, path))
        if previous:
            with previous_reads():
                before.append(await _get(client, headers, path))
    return timings, before, size


async def main_async(args: argparse.Namespace, dsn: str) -> None:
    started = time.monotonic()
    if not args.reuse:
        await migrate(dsn)
        await make_users(dsn, args.keys)
        await generate(dsn, args)
    await measure(dsn, args.runs, not args.no_previous, args.only)
    print(f"total {time.monotonic() - started:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events in the rollups")
    parser.add_argument("--raw-days", type=int, default=30, help="days of raw events stored")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument(
        "--no-previous", action="store_true", help="skip the previous reads of filtered cases"
    )
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument(
        "--reuse", action="store_true", help="BENCH_DATABASE_URL already holds the data"
    )
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    if os.environ.get("BENCH_DATABASE_URL"):
        asyncio.run(main_async(args, os.environ["BENCH_DATABASE_URL"]))
        return
    base = Path(tempfile.mkdtemp(prefix="cpa-bench-pg-"))
    base.chmod(0o755)
    try:
        dsn = localpg.ensure_cluster(base / "data", localpg.free_port(), durable=False)
        asyncio.run(main_async(args, dsn))
    finally:
        localpg.destroy_cluster(base / "data")
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
