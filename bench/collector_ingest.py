"""Benchmark: usage ingest (proxy outbox -> Postgres, acks included) and 30-day rollup queries.

    python -m bench.collector_ingest [--events 100000] [--repeat 3] [--rollup-events 10000000]

1. Ingest: a proxy outbox is filled with N events (the proxy's own Outbox class, fsync on) and
   served by the real proxy process (`python -m services.proxy`); one collector (in this
   process) stores them in PostgreSQL with fsync and synchronous_commit ON until the proxy
   acked the last one. Prints events/s end to end and the CPU each process spent per event
   (collector, proxy, every PostgreSQL process of the cluster), per run and the median, for
   the current batch insert and the previous one (bench/ingest_baseline.py) in alternating
   order, and the ratio between them.
   `--timeline spread` stamps events at random within the last hour instead of in seq order;
   `--source fake` serves the in-memory test fake instead of the proxy.
2. History: hourly rollups equivalent to `--rollup-events` events over 30 days (200 keys,
   20 users, 8 models) are generated with generate_series, then the queries a 30-day usage page
   needs are timed; prints p50/p95 per query and for the whole page.
Both parts use a throwaway cluster from tools/localpg unless BENCH_DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bench.ingest_baseline import full_validator, previous_insert, rollups_before_0010
from bench.ingest_rig import CpuMeter, ProxyChild, cluster_pids, fill_outbox
from services.collector.settings import CollectorSettings
from services.collector.worker import Collector
from services.core.db import connect
from services.core.latency_histogram import HIST_BUCKETS
from services.core.migrate import migrate
from tests.integration.collector.helpers import API_KEY, settings_for
from tools import localpg

DEFAULT_BATCH = CollectorSettings.model_fields["batch_size"].default
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


@dataclass
class IngestRun:
    """One ingest run: events/s end to end and CPU per event of each process."""

    rate: float
    cpu_us: dict[str, float]

    def line(self) -> str:
        cpu = ", ".join(f"{name} {us:.1f}" for name, us in self.cpu_us.items())
        return f"{self.rate:>9,.0f} events/s   CPU us/event: {cpu or 'not measured'}"

    @property
    def total_cpu(self) -> float:
        return sum(self.cpu_us.values())

    @property
    def ceiling(self) -> float:
        """Events/s if every core of this machine ran only this pipeline (CPU-bound)."""
        return (os.cpu_count() or 1) * 1e6 / self.total_cpu


async def _drain(dsn: str, url: str, events: int, batch: int, meter: CpuMeter) -> float:
    """Run one collector against `url` until the proxy acked `events`; return the seconds."""
    collector = Collector(settings_for(dsn, url, batch_size=batch, idle_interval_s=5))
    meter.start()
    started = time.monotonic()
    task = asyncio.create_task(collector.run())
    while collector.status.proxies[url].acked != events:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - started
    meter.stop()
    collector.stop()
    await task
    async with await connect(dsn) as conn:
        row = await (await conn.execute("SELECT count(*) FROM usage_events")).fetchone()
    assert row is not None and row[0] == events, row
    return elapsed


async def ingest_from_proxy(
    dsn: str, data_dir: Path | None, events: int, batch: int, timeline: str
) -> IngestRun:
    """The real proxy process serving a filled outbox; one collector in this process."""
    with tempfile.TemporaryDirectory(prefix="cpa-bench-proxy-") as tmp:
        folder = Path(tmp)
        await fill_outbox(folder / "usage", events, timeline)
        proxy = ProxyChild(folder, folder / "usage", API_KEY, localpg.free_port())
        await proxy.start()
        try:
            assert proxy.proc is not None
            groups = {"collector": lambda: [os.getpid()], "proxy": lambda: [proxy.proc.pid]}  # type: ignore[union-attr]
            if data_dir is not None:
                groups["postgres"] = lambda: cluster_pids(data_dir)
            meter = CpuMeter(groups)
            elapsed = await _drain(dsn, proxy.url, events, batch, meter)
        finally:
            proxy.stop()
    return IngestRun(events / elapsed, {k: v * 1e6 / events for k, v in meter.used.items()})


async def ingest_from_fake(dsn: str, events: int, batch: int) -> IngestRun:
    """The in-memory test fake in a child process (no outbox, no proxy)."""
    ctx = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue[str] = ctx.Queue()
    child = ctx.Process(target=_serve_fake, args=(events, ready), daemon=True)
    child.start()
    url = await asyncio.to_thread(ready.get, True, 120)
    elapsed = await _drain(dsn, url, events, batch, CpuMeter({}))
    child.join(10)
    return IngestRun(events / elapsed, {})


async def fresh_database(dsn: str, name: str) -> str:
    """A new, migrated database `name` on the server of `dsn`."""
    async with await connect(dsn, autocommit=True) as conn:
        await conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    target = make_conninfo(dsn, dbname=name)
    await migrate(target)
    return target


# The two batch inserts the ingest part compares, interleaved round by round.
INSERTS: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "previous": previous_insert,  # one JSON parameter, a price probe per event
    "current": contextlib.nullcontext,  # binary COPY into staging, prices per (provider, model)
}


BASELINES = {"rollups": rollups_before_0010, "validator": full_validator}
BASELINE_NOTES = {
    "rollups": "; previous = the current insert without the rollups of 0010",
    "validator": "; previous = the current insert, events through the full validator only",
}


async def _one_run(
    args: argparse.Namespace, dsn: str, data_dir: Path | None, name: str
) -> IngestRun:
    target = await fresh_database(dsn, f"bench_ingest_{name}")
    with INSERTS[name]():
        if args.source == "fake":
            return await ingest_from_fake(target, args.events, args.batch)
        return await ingest_from_proxy(target, data_dir, args.events, args.batch, args.timeline)


async def bench_ingest(args: argparse.Namespace, dsn: str, data_dir: Path | None) -> None:
    if args.baseline != "insert":
        INSERTS["previous"] = BASELINES[args.baseline]
    names = list(INSERTS) if args.previous else ["current"]
    print(
        f"ingest: {args.events:,} events from the {args.source} source, pages of"
        f" {args.batch}, {args.timeline} timestamps, {args.repeat} round(s) of"
        f" {' and '.join(names)}"
        " (order alternates), each run into a fresh database; end to end = first fetch to"
        " last ack (store, rollups, commit with fsync)" + BASELINE_NOTES.get(args.baseline, "")
    )
    runs: dict[str, list[IngestRun]] = {name: [] for name in names}
    for i in range(args.repeat):
        for name in names if i % 2 == 0 else names[::-1]:
            run = await _one_run(args, dsn, data_dir, name)
            runs[name].append(run)
            print(f"  round {i + 1} {name:<9}{run.line()}")
    for name, done in runs.items():
        print(f"  median   {name:<9}{median_run(done).line()}")
    if len(runs) == 2:
        _print_ratios(runs["previous"], runs["current"])


def median_run(runs: list[IngestRun]) -> IngestRun:
    """Median rate and median CPU per event of each process over `runs`."""
    names = runs[0].cpu_us
    return IngestRun(
        statistics.median(r.rate for r in runs),
        {k: statistics.median(r.cpu_us[k] for r in runs) for k in names},
    )


def _print_ratios(previous: list[IngestRun], current: list[IngestRun]) -> None:
    rounds = [c.rate / p.rate for p, c in zip(previous, current, strict=True)]
    old, new = median_run(previous), median_run(current)
    print(
        f"  current / previous: {statistics.median(rounds):.2f} x the events/s (median of"
        f" per-round ratios; {min(rounds):.2f} to {max(rounds):.2f})"
    )
    if new.cpu_us:
        print(
            f"  CPU per event, all processes: {sum(old.cpu_us.values()):.0f} us previous,"
            f" {sum(new.cpu_us.values()):.0f} us current ({new.total_cpu / old.total_cpu:.2f} x);"
            f" CPU-bound ceiling on {os.cpu_count()} dedicated cores:"
            f" {old.ceiling:,.0f} previous, {new.ceiling:,.0f} current events/s"
        )


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
    parts = [
        ("model", "provider", "model"),
        ("api_key", "''", "api_key_id"),
        ("credential", "provider", "credential"),
    ]
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
        print(
            f"rollups for {events:,} events over 30 days generated in"
            f" {time.monotonic() - started:.1f}s: rows in usage_hourly {hourly:,},"
            f" usage_hourly_users {users:,}, usage_hourly_dims {hdims:,},"
            f" usage_daily_dims {ddims:,}"
        )
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
            print(
                f"  {name:<26} p50 {statistics.median(values):7.1f} ms"
                f"   p95 {_p(values, 0.95):7.1f} ms"
            )
        print(
            f"  {'whole 30-day page':<26} p50 {statistics.median(page):7.1f} ms"
            f"   p95 {_p(page, 0.95):7.1f} ms  ({len(PAGE_QUERIES)} page queries)"
        )


# -- driver --------------------------------------------------------------------------------


async def main_async(args: argparse.Namespace, dsn: str, data_dir: Path | None) -> None:
    if args.events:
        await bench_ingest(args, dsn, data_dir)
    if args.rollup_events:
        await bench_queries(
            await fresh_database(dsn, "bench_rollups"), args.rollup_events, args.runs
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="COLLECTOR_BATCH_SIZE")
    parser.add_argument("--repeat", type=int, default=3, help="ingest rounds")
    parser.add_argument(
        "--previous",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the previous batch insert (bench/ingest_baseline.py) each round",
    )
    parser.add_argument(
        "--baseline",
        choices=["insert", "rollups", "validator"],
        default="insert",
        help="what `previous` runs: the previous batch insert, the current one without"
        " the rollups of migration 0010 (usage_daily, usage_hourly_dim_totals), or the current"
        " one with every event through the full validator (no compiled fast path)",
    )
    parser.add_argument(
        "--timeline",
        choices=["steady", "spread"],
        default="steady",
        help="event times increasing with seq as the proxy stamps them, or"
        " random within the last hour (worst case for the time indexes)",
    )
    parser.add_argument("--rollup-events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--no-fsync",
        action="store_true",
        help="fsync and synchronous_commit off (the test clusters' settings)",
    )
    parser.add_argument(
        "--source",
        choices=["proxy", "fake"],
        default="proxy",
        help="the real proxy process serving a filled outbox, or the in-memory test fake",
    )
    args = parser.parse_args()
    # The collector's and the migrations' info lines would drown the figures.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    if os.environ.get("BENCH_DATABASE_URL"):
        asyncio.run(main_async(args, os.environ["BENCH_DATABASE_URL"], None))
        return
    base = Path(tempfile.mkdtemp(prefix="cpa-bench-pg-"))
    base.chmod(0o755)
    try:
        data = base / "data"
        dsn = localpg.ensure_cluster(data, localpg.free_port(), durable=not args.no_fsync)
        print(
            f"PostgreSQL: a local cluster, fsync {'off' if args.no_fsync else 'on'},"
            f" synchronous_commit {'off' if args.no_fsync else 'on'}"
        )
        asyncio.run(main_async(args, dsn, data))
    finally:
        localpg.destroy_cluster(base / "data")
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
