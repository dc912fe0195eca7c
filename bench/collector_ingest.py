"""Benchmark: usage ingest (outbox -> Postgres, acks included) and 30-day rollup queries.

    python -m bench.collector_ingest [--events 100000] [--batch 2000] [--rollup-events 10000000]

1. Ingest: a proxy outbox in its own process holds N events (the proxy's real on-disk outbox
   and `/v0/usage/*` routes, or `--source fake` for tests/fakes/usage_source.py); one collector
   (in this process) stores them in a local Postgres until the last ack. Prints events/s end
   to end.
2. History: hourly rollups equivalent to `--rollup-events` events over 30 days (200 keys,
   20 users, 8 models) are generated with generate_series, then the queries a 30-day usage page
   needs are timed; prints p50/p95 per query and for the whole page.
Both parts use a throwaway cluster from tools/localpg unless BENCH_DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from services.collector.worker import Collector
from services.core.db import connect
from services.core.latency_histogram import HIST_BUCKETS
from services.core.migrate import migrate
from tests.integration.collector.helpers import API_KEY, settings_for
from tools import localpg

HIST_SUM = (
    "ARRAY["
    + ", ".join(f"sum(latency_hist[{i}])::bigint" for i in range(1, HIST_BUCKETS + 1))
    + "]"
)
SUMS = (
    "sum(requests)::bigint AS requests, sum(failures)::bigint AS failures,"
    " sum(input_tokens)::bigint AS input, sum(output_tokens)::bigint AS output,"
    " sum(cached_tokens)::bigint AS cached, sum(reasoning_tokens)::bigint AS reasoning,"
    " sum(cost_usd) AS cost, sum(latency_ms_sum)::bigint AS latency_sum,"
    " sum(latency_count)::bigint AS latency_count"
)
WINDOW = "bucket_start >= now() - interval '30 days'"
DAYS = "bucket_start >= date_trunc('day', now() - interval '29 days', 'UTC')"
# What one 30-day usage page asks (issue 7): the hourly series and totals with p95 from the
# per-owner hourly table, every breakdown from the one-dimension daily table, in three queries.
PAGE_QUERIES = {
    "series_hourly": f"SELECT bucket_start, {SUMS}, {HIST_SUM} FROM usage_hourly_users"
    f" WHERE {WINDOW} GROUP BY 1 ORDER BY 1",
    "totals_p95_by_user": f"SELECT user_id, {SUMS},"
    f" usage_hist_quantile({HIST_SUM}, 0.95, min(latency_ms_min), max(latency_ms_max))"
    " FROM usage_hourly_users"
    f" WHERE {WINDOW} GROUP BY ROLLUP (user_id)",
    "breakdowns_daily": f"SELECT dimension, provider, value, {SUMS}, {HIST_SUM}"
    f" FROM usage_daily_dims WHERE {DAYS} GROUP BY 1, 2, 3",
}
EXTRA_QUERIES = {
    "breakdowns_24h_hourly": f"SELECT dimension, provider, value, {SUMS}, {HIST_SUM}"
    " FROM usage_hourly_dims WHERE bucket_start >= now() - interval '24 hours' GROUP BY 1, 2, 3",
    "series_one_user": f"SELECT bucket_start, {SUMS}, {HIST_SUM} FROM usage_hourly_users"
    f" WHERE user_id = 7 AND {WINDOW} GROUP BY 1 ORDER BY 1",
    "breakdowns_one_user": f"SELECT dimension, provider, value, {SUMS} FROM usage_daily_dims"
    f" WHERE user_id = 7 AND {DAYS} GROUP BY 1, 2, 3",
    "naive_series_usage_hourly": f"SELECT bucket_start, {SUMS}, {HIST_SUM} FROM usage_hourly"
    f" WHERE {WINDOW} GROUP BY 1 ORDER BY 1",
}


# -- part 1: ingest ------------------------------------------------------------------------


def _serve_fake(events: int, ready: multiprocessing.Queue[str]) -> None:
    """Child process: the test fake outbox (in memory) holding `events` events."""
    from tests.fakes.usage_source import FakeUsageSource

    async def serve() -> None:
        source = FakeUsageSource(instance_id="bench-proxy", api_key=API_KEY)
        source.add_events(events)
        ready.put(await source.start())
        while source.pending:
            await source.activity.wait()
            source.activity.clear()
        await asyncio.sleep(0.5)  # let the last ack answer travel
        await source.stop()

    asyncio.run(serve())


def _serve_outbox(events: int, ready: multiprocessing.Queue[str]) -> None:
    """Child process: the proxy's real on-disk outbox and `/v0/usage/*` routes."""
    import random

    from aiohttp import web

    from services.proxy.usage.outbox import Outbox
    from services.proxy.usage.routes import usage_routes
    from tests.fakes.usage_source import make_event

    async def serve() -> None:
        with tempfile.TemporaryDirectory(prefix="cpa-bench-outbox-") as folder:
            outbox = Outbox(Path(folder), soft_cap_bytes=4 * 1024**3)
            await outbox.start()
            rng = random.Random(1)
            for seq in range(1, events + 1):
                outbox.append(make_event(seq, "", rng))  # the outbox sets the reserved fields
            app = web.Application()
            app.add_routes(usage_routes(outbox, lambda: [API_KEY]))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            ready.put(f"http://127.0.0.1:{runner.addresses[0][1]}")
            while outbox.acked_seq < events:  # noqa: ASYNC110  # the outbox offers no event
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            await runner.cleanup()
            await outbox.close()

    asyncio.run(serve())


async def bench_ingest(dsn: str, events: int, batch: int, source: str) -> float:
    ctx = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue[str] = ctx.Queue()
    target = _serve_outbox if source == "outbox" else _serve_fake
    child = ctx.Process(target=target, args=(events, ready), daemon=True)
    child.start()
    url = await asyncio.to_thread(ready.get, True, 120)
    collector = Collector(settings_for(dsn, url, batch_size=batch, idle_interval_s=5))
    started = time.monotonic()
    task = asyncio.create_task(collector.run())
    while collector.status.proxies[url].acked != events:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - started
    collector.stop()
    await task
    child.join(10)
    async with await connect(dsn) as conn:
        cur = await conn.execute("SELECT count(*) FROM usage_events")
        row = await cur.fetchone()
    assert row is not None and row[0] == events, row
    return events / elapsed


# -- part 2: rollup queries ----------------------------------------------------------------


_METRIC_SUMS = (
    "sum(requests), sum(failures), sum(input_tokens), sum(output_tokens),"
    " sum(reasoning_tokens), sum(cached_tokens), sum(cache_read_tokens),"
    " sum(cache_creation_tokens), sum(total_tokens), sum(cost_usd), sum(latency_ms_sum),"
    " sum(latency_count), sum(ttft_ms_sum), sum(ttft_count), max(latency_ms_max),"
    " min(latency_ms_min), " + HIST_SUM
)
_METRIC_COLUMNS = (
    "requests, failures, input_tokens, output_tokens, reasoning_tokens, cached_tokens,"
    " cache_read_tokens, cache_creation_tokens, total_tokens, cost_usd, latency_ms_sum,"
    " latency_count, ttft_ms_sum, ttft_count, latency_ms_max, latency_ms_min, latency_hist"
)


def _dims_sql(table: str, unit: str) -> str:
    parts = [("model", "provider", "model"), ("api_key", "''", "api_key_id"),
             ("credential", "provider", "credential")]  # fmt: skip
    selects = " UNION ALL ".join(
        f"SELECT date_trunc('{unit}', bucket_start, 'UTC'), user_id, '{dim}', {provider},"
        f" {value}, {_METRIC_SUMS} FROM usage_hourly GROUP BY 1, 2, 4, 5"
        for dim, provider, value in parts
    )
    return (
        f"INSERT INTO {table} (bucket_start, user_id, dimension, provider, value,"
        f" {_METRIC_COLUMNS}) {selects};"
    )


def _generate_sql(total_events: int) -> str:
    """Hourly rollup rows for 30 days x 200 keys x 2 models per key-hour, summing to N events;
    the other rollups are derived from them exactly as the collector would have built them."""
    rows = 720 * 200 * 2
    per_row = max(total_events // rows, 1)
    hist = ", ".join(f"(random() * {per_row} / 8)::bigint" for _ in range(HIST_BUCKETS))
    return f"""
    TRUNCATE usage_hourly, usage_hourly_users, usage_hourly_dims, usage_daily_dims;
    INSERT INTO usage_hourly (bucket_start, user_id, api_key_id, provider, model, credential,
        requests, failures, input_tokens, output_tokens, reasoning_tokens, cached_tokens,
        total_tokens, cost_usd, latency_ms_sum, latency_count, latency_ms_max, latency_ms_min,
        latency_hist)
    SELECT h, k % 20, lpad(to_hex(k), 16, '0'), 'p' || (m % 4), 'model-' || m,
           'cred-' || (m % 4) || '-' || (k % 3),
           {per_row}, {per_row} / 20, {per_row} * 900, {per_row} * 300, {per_row} * 20,
           {per_row} * 200, {per_row} * 1200, {per_row} * 0.004, {per_row} * 2500, {per_row},
           30000, 40, ARRAY[{hist}]
    FROM generate_series(date_trunc('hour', now()) - interval '719 hours',
                         date_trunc('hour', now()), interval '1 hour') AS h,
         generate_series(1, 200) AS k,
         LATERAL (SELECT DISTINCT (k + extract(hour FROM h)::int + j * 3) % 8 AS m
                  FROM generate_series(0, 1) AS j) AS models;
    INSERT INTO usage_hourly_users (bucket_start, user_id, {_METRIC_COLUMNS})
      SELECT bucket_start, user_id, {_METRIC_SUMS} FROM usage_hourly GROUP BY 1, 2;
    {_dims_sql("usage_hourly_dims", "hour")}
    {_dims_sql("usage_daily_dims", "day")}
    """


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def bench_queries(dsn: str, total_events: int, runs: int) -> None:
    async with await connect(dsn, autocommit=True) as conn:
        started = time.monotonic()
        await conn.execute(_generate_sql(total_events).encode())
        await conn.execute("VACUUM ANALYZE")
        cur = await conn.execute(
            "SELECT (SELECT sum(requests) FROM usage_hourly), (SELECT count(*) FROM usage_hourly),"
            " (SELECT count(*) FROM usage_hourly_users), (SELECT count(*) FROM usage_hourly_dims),"
            " (SELECT count(*) FROM usage_daily_dims)"
        )
        events, hourly, users, hdims, ddims = (await cur.fetchone()) or (0, 0, 0, 0, 0)
        print(f"rollups for {events:,} events over 30 days generated in"
              f" {time.monotonic() - started:.1f}s: rows in usage_hourly {hourly:,},"
              f" usage_hourly_users {users:,}, usage_hourly_dims {hdims:,},"
              f" usage_daily_dims {ddims:,}")  # fmt: skip
        timings: dict[str, list[float]] = {name: [] for name in {**PAGE_QUERIES, **EXTRA_QUERIES}}
        page: list[float] = []
        for _ in range(runs):
            page_started = time.perf_counter()
            for name, query in {**PAGE_QUERIES, **EXTRA_QUERIES}.items():
                t0 = time.perf_counter()
                await (await conn.execute(query.encode())).fetchall()
                timings[name].append((time.perf_counter() - t0) * 1000)
                if name == list(PAGE_QUERIES)[-1]:
                    page.append((time.perf_counter() - page_started) * 1000)
        for name, values in timings.items():
            print(f"  {name:<26} p50 {statistics.median(values):7.1f} ms"
                  f"   p95 {_p(values, 0.95):7.1f} ms")  # fmt: skip
        print(f"  {'whole 30-day page':<26} p50 {statistics.median(page):7.1f} ms"
              f"   p95 {_p(page, 0.95):7.1f} ms  ({len(PAGE_QUERIES)} page queries)")  # fmt: skip


# -- driver --------------------------------------------------------------------------------


async def main_async(args: argparse.Namespace, dsn: str) -> None:
    await migrate(dsn)
    if args.events:
        rate = await bench_ingest(dsn, args.events, args.batch, args.source)
        print(f"ingest from the {args.source} source: {args.events:,} events, batches of"
              f" {args.batch}:"
              f" {rate:,.0f} events/s end to end (fetch, store, rollups, commit, ack)")  # fmt: skip
    if args.rollup_events:
        await bench_queries(dsn, args.rollup_events, args.runs)


def _has_outbox() -> bool:
    return (Path(__file__).parents[1] / "services/proxy/usage/outbox.py").exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--rollup-events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--durable", action="store_true", help="fsync on (default: off)")
    parser.add_argument(
        "--source",
        choices=["outbox", "fake"],
        default="outbox" if _has_outbox() else "fake",
        help="the proxy's real outbox and routes, or the in-memory test fake",
    )
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    if os.environ.get("BENCH_DATABASE_URL"):
        asyncio.run(main_async(args, os.environ["BENCH_DATABASE_URL"]))
        return
    base = Path(tempfile.mkdtemp(prefix="cpa-bench-pg-"))
    base.chmod(0o755)
    try:
        dsn = localpg.ensure_cluster(base / "data", localpg.free_port(), durable=args.durable)
        asyncio.run(main_async(args, dsn))
    finally:
        localpg.destroy_cluster(base / "data")
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
