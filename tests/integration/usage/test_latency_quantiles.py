"""Latency quantiles read right (issue 11): p95 never outside the observed [min, max], fine
buckets at the low end, and rollups written before migration 0005 still give sane answers.

Events go through the collector's own insert (`usage_events.record`); answers come from
`/api/usage/history`, as the usage page reads them.
"""

from __future__ import annotations

import itertools
import random
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from services.collector.usage_events import NewEvent
from services.core.latency_histogram import HIST_BUCKETS, LATENCY_BOUNDS_MS
from services.core.migrate import MIGRATIONS_DIR, migrate
from tests.integration.dashboard.conftest import Browser
from tests.integration.usage.recount import p95 as recounted_p95
from tests.integration.usage.seed import EventSpec, make_event, store

OLD_BOUNDS = (0, 100, 250, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 15000, 20000,
              30000, 60000)  # fmt: skip
ROLLUPS = ("usage_hourly", "usage_hourly_users", "usage_hourly_dims", "usage_daily_dims")


def _events(latencies: list[int], model: str, start: int) -> list[NewEvent]:
    rng = random.Random(start)
    at = datetime.now(UTC) - timedelta(minutes=5)
    return [
        replace(
            make_event(rng, seq, EventSpec(at=at, model=model, provider="openai")),
            latency_ms=latency,
            ttft_ms=min(latency, 3),
        )
        for seq, latency in enumerate(latencies, start=start)
    ]


def _history(admin: Browser) -> dict[str, Any]:
    response = admin.get("/api/usage/history?window=24h&eventsLimit=0")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def _all_metrics(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [data["totals"], *data["series"]]
    for name in ("model", "apiKey", "user", "provider", "credential"):
        rows += data["breakdowns"][name]
    return [r for r in rows if r["requests"]]


def test_a_fast_model_reads_its_real_p95(users: dict[str, Browser], usage_dsn: str) -> None:
    """Every request took 0-5 ms: the p95 shown was 95 ms (inside 0-100 ms); now at most 5."""
    latencies = [i % 6 for i in range(120)]
    assert store(usage_dsn, _events(latencies, "fast-model", 10_000)) == len(latencies)
    data = _history(users["admin"])
    (fast,) = [r for r in data["breakdowns"]["model"] if r["id"] == "fast-model"]
    assert fast["latencyMinMs"] == 0 and fast["latencyMaxMs"] == 5
    assert 4 <= fast["latencyP95Ms"] <= 5, fast
    assert fast["latencyP95Ms"] == pytest.approx(recounted_p95(latencies), abs=0.06)


@pytest.mark.parametrize(
    "name, latencies",
    [
        ("one-value", [1234] * 40),
        ("single", [7]),
        ("bimodal", [2] * 90 + [40_000] * 10),
        ("long-tail", [int(50 * 1.08**i) for i in range(120)]),
        ("beyond-the-last-bound", [700_000, 900_000, 650_000]),
        ("sub-10ms", [1, 1, 2, 3, 3, 3, 4, 8, 9, 9]),
    ],
)
def test_p95_stays_inside_min_and_max(
    users: dict[str, Browser], usage_dsn: str, name: str, latencies: list[int]
) -> None:
    store(usage_dsn, _events(latencies, f"q-{name}", 20_000 + 1000 * len(name)))
    data = _history(users["admin"])
    for row in _all_metrics(data):
        assert row["latencyMinMs"] <= row["latencyP95Ms"] <= row["latencyMaxMs"], row
    (mine,) = [r for r in data["breakdowns"]["model"] if r["id"] == f"q-{name}"]
    assert mine["latencyP95Ms"] == pytest.approx(recounted_p95(latencies), abs=0.06)
    if len(set(latencies)) == 1:
        assert mine["latencyP95Ms"] == latencies[0]
    exact = sorted(latencies)[max(0, -(-95 * len(latencies) // 100) - 1)]
    # Within the bucket of the exact value: buckets are at most 2.5x wide.
    assert exact / 2.5 <= mine["latencyP95Ms"] <= exact * 2.5 + 1


def test_buckets_are_log_spaced_from_1_ms() -> None:
    bounds = LATENCY_BOUNDS_MS
    assert bounds[:3] == (0, 1, 2) and len(bounds) == HIST_BUCKETS
    assert set(OLD_BOUNDS) <= set(bounds), "old rows convert exactly at every old bound"
    ratios = [b / a for a, b in itertools.pairwise(bounds[1:])]
    assert max(ratios) <= 2.5 and bounds[-1] >= 300_000


# --- rows written before migration 0005 ------------------------------------------------------


def _old_rows() -> list[tuple[list[int], int]]:
    """(16-bucket histogram, max) pairs as the old collector stored them."""
    fast = [0] * 16
    fast[0] = 120  # everything under 5 ms: the case of the issue
    spread = [3, 10, 25, 40, 40, 60, 55, 44, 30, 12, 6, 3, 2, 1, 1, 2]  # 2 beyond 60 s
    tail = [0] * 16
    tail[9], tail[10] = 5, 1  # 5000-7500 ms, one at 7500-10000
    return [(fast, 5), (spread, 95_000), (tail, 7_600)]


def _insert_old(conn: psycopg.Connection[Any], hour: datetime) -> None:
    """The old rows in usage_hourly, and the other rollups derived from them as the old
    collector folded them (usage_hourly_totals follows through 0004's trigger)."""
    for i, (hist, top) in enumerate(_old_rows()):
        conn.execute(
            "INSERT INTO usage_hourly (bucket_start, user_id, api_key_id, provider, model,"
            " credential, requests, latency_ms_sum, latency_count, latency_ms_max, latency_hist)"
            " VALUES (%s, NULL, '', 'openai', %s, 'c', %s, %s, %s, %s, %s)",
            (hour, f"old-{i}", sum(hist), 100 * sum(hist), sum(hist), top, hist),
        )
    sums = (
        "sum(requests), sum(latency_ms_sum), sum(latency_count), max(latency_ms_max),"
        " usage_hist_sum(latency_hist)"
    )
    columns = "requests, latency_ms_sum, latency_count, latency_ms_max, latency_hist"
    conn.execute(
        f"INSERT INTO usage_hourly_users (bucket_start, user_id, {columns})"
        f" SELECT bucket_start, user_id, {sums} FROM usage_hourly GROUP BY 1, 2"
    )
    for table, unit in (("usage_hourly_dims", "hour"), ("usage_daily_dims", "day")):
        conn.execute(
            f"INSERT INTO {table} (bucket_start, user_id, dimension, provider, value, {columns})"
            f" SELECT date_trunc('{unit}', bucket_start, 'UTC'), user_id, 'model', provider,"
            f" model, {sums} FROM usage_hourly GROUP BY 1, 2, 4, 5"
        )


def _coarse(fine: list[int]) -> list[int]:
    """A new-layout histogram summed back into the old buckets."""
    out = [0] * 16
    for bound, count in zip(LATENCY_BOUNDS_MS, fine, strict=True):
        out[max(i for i, b in enumerate(OLD_BOUNDS) if b <= bound)] += count
    return out


async def test_old_rollups_are_converted_and_stay_sane(
    empty_database_url: str, tmp_path: Path
) -> None:
    for path in sorted(MIGRATIONS_DIR.glob("000[1-4]_*.sql")):
        shutil.copy(path, tmp_path / path.name)
    await migrate(empty_database_url, tmp_path)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        _insert_old(conn, hour)
        before = {
            t: conn.execute(
                f"SELECT latency_hist, latency_ms_max FROM {t} ORDER BY latency_ms_max"
            ).fetchall()
            for t in ROLLUPS
        }
    # 0005 alone (later migrations are not its subject).
    shutil.copy(MIGRATIONS_DIR / "0005_usage_latency_histograms.sql", tmp_path)
    assert await migrate(empty_database_url, tmp_path) == ["0005_usage_latency_histograms"]

    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        for table in ROLLUPS:
            after = conn.execute(
                f"SELECT latency_hist, latency_ms_max, latency_ms_min FROM {table}"
                " ORDER BY latency_ms_max"
            ).fetchall()
            assert len(after) == len(before[table])
            for (old, top), (new, top_after, low) in zip(before[table], after, strict=True):
                assert len(new) == HIST_BUCKETS and top_after == top
                assert _coarse(new) == old, "every old bucket keeps exactly its count"
                first = min(i for i, c in enumerate(old) if c)
                assert low == OLD_BOUNDS[first], "the minimum is a bound no latency was below"
                assert all(c == 0 for b, c in zip(LATENCY_BOUNDS_MS, new, strict=True) if b > top)
        quantiles = conn.execute(
            "SELECT model, usage_hist_quantile(latency_hist, 0.95, latency_ms_min,"
            " latency_ms_max), latency_ms_min, latency_ms_max FROM usage_hourly ORDER BY model"
        ).fetchall()
        for model, value, low, top in quantiles:
            assert low <= value <= top, model
        assert quantiles[0][1] <= 5, "the 0-5 ms row no longer reads 95 ms"
        assert 7_500 <= quantiles[2][1] <= 7_600, "the tail row stays in its old bucket"
        totals = conn.execute(
            "SELECT requests, latency_hist, latency_ms_min FROM usage_hourly_totals"
        ).fetchall()
        users = conn.execute(
            "SELECT requests, latency_hist, latency_ms_min FROM usage_hourly_users"
        ).fetchall()
        assert totals == users, "the all-users rollup is rebuilt from the converted rows"
        with pytest.raises(psycopg.errors.CheckViolation):  # an old collector fails loudly
            conn.execute(
                "INSERT INTO usage_hourly_users (bucket_start, user_id, latency_hist)"
                " VALUES (now(), 99, %s)",
                ([0] * 16,),
            )
