"""The expected answer of /api/usage/history, recounted in Python from the raw usage_events rows
(independently of the rollups and of the SQL that reads them)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from services.core.latency_histogram import LATENCY_BOUNDS_MS

TOKEN_FIELDS = {
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "cachedTokens": "cached_tokens",
    "reasoningTokens": "reasoning_tokens",
    "cacheCreationTokens": "cache_creation_tokens",
    "totalTokens": "total_tokens",
}


@dataclass
class Raw:
    event_id: str
    ts: datetime
    user_id: int | None
    api_key_id: str
    provider: str
    model: str
    credential: str
    failed: bool
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cache_creation_tokens: int
    total_tokens: int
    cost_usd: Decimal
    latency_ms: int | None
    ttft_ms: int | None


def raw_events(dsn: str) -> list[Raw]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT event_id::text, ts, user_id, api_key_id, provider, model, auth_index,"
            " failed, input_tokens, output_tokens, cached_tokens, reasoning_tokens,"
            " cache_creation_tokens, total_tokens, cost_usd, latency_ms, ttft_ms"
            " FROM usage_events"
        ).fetchall()
    return [Raw(*row) for row in rows]


@dataclass
class Acc:
    requests: int = 0
    failures: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cost: Decimal = Decimal(0)
    latency: list[int] = field(default_factory=list)
    ttft: list[int] = field(default_factory=list)

    def add(self, e: Raw) -> None:
        self.requests += 1
        self.failures += e.failed
        for column in TOKEN_FIELDS.values():
            self.tokens[column] += getattr(e, column)
        self.cost += e.cost_usd
        if e.latency_ms is not None:
            self.latency.append(e.latency_ms)
        if e.ttft_ms is not None:
            self.ttft.append(e.ttft_ms)


def p95(latencies: list[int]) -> float | None:
    """The histogram quantile of usage_hist_quantile, written again in Python."""
    if not latencies:
        return None
    bounds = list(LATENCY_BOUNDS_MS)
    hist = [0] * len(bounds)
    for value in latencies:
        hist[bisect.bisect_right(bounds, value) - 1] += 1
    low, high = min(latencies), max(latencies)
    target, seen = 0.95 * len(latencies), 0
    for i, count in enumerate(hist):
        if count and seen + count >= target:
            lo = max(bounds[i], low)
            hi = max(min(bounds[i + 1] if i + 1 < len(bounds) else high, high), lo)
            value = lo + (hi - lo) * max(target - seen, 0) / count
            return min(max(value, low), high)
        seen += count
    return float(high)


def check_metrics(actual: dict[str, Any], acc: Acc, where: str) -> None:
    assert actual["requests"] == acc.requests, where
    assert actual["failures"] == acc.failures, where
    for name, column in TOKEN_FIELDS.items():
        assert actual[name] == acc.tokens[column], f"{where} {name}"
    assert abs(actual["costUsd"] - float(acc.cost)) < 2e-6, f"{where} cost"
    avg = round(sum(acc.latency) / len(acc.latency), 1) if acc.latency else None
    assert actual["latencyAvgMs"] == avg, f"{where} latency avg"
    expected_p95 = p95(acc.latency)
    if expected_p95 is None:
        assert actual["latencyP95Ms"] is None, where
    else:
        assert abs(actual["latencyP95Ms"] - expected_p95) <= 0.06, f"{where} p95"
    assert actual["latencyMaxMs"] == (max(acc.latency) if acc.latency else None), where
    assert actual["latencyMinMs"] == (min(acc.latency) if acc.latency else None), where


def bucket_of(ts: datetime, bucket: str, zone: ZoneInfo) -> datetime:
    """The documented rule: UTC hours; a day is the local day holding the hour's middle."""
    hour = ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if bucket == "hour":
        return hour
    day = (hour + timedelta(minutes=30)).astimezone(zone).date()
    return datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)


@dataclass
class Expected:
    totals: Acc
    series: dict[datetime, Acc]
    breakdowns: dict[str, dict[object, Acc]]
    events: list[Raw]


_DIMENSIONS = {
    "model": lambda e: (e.provider, e.model),
    "apiKey": lambda e: e.api_key_id,
    "user": lambda e: "" if e.user_id is None else str(e.user_id),
    "provider": lambda e: e.provider,
    "credential": lambda e: (e.provider, e.credential),
}


def recount(events: list[Raw], data: dict[str, Any], filters: dict[str, object]) -> Expected:
    """What the answer `data` (its window) must say for `filters` (Scope-like keys)."""
    window = data["window"]
    start = datetime.fromisoformat(window["from"])
    end = datetime.fromisoformat(window["to"])
    zone = ZoneInfo(window["tz"])
    attrs = {"userId": "user_id", "model": "model", "provider": "provider",
             "apiKey": "api_key_id", "credential": "credential"}  # fmt: skip
    chosen = [
        e
        for e in events
        if start <= e.ts < end
        and all(getattr(e, attrs[k]) == v for k, v in filters.items() if v is not None)
    ]
    expected = Expected(Acc(), defaultdict(Acc), {k: defaultdict(Acc) for k in _DIMENSIONS}, [])
    for e in chosen:
        expected.totals.add(e)
        expected.series[bucket_of(e.ts, window["bucket"], zone)].add(e)
        for name, key in _DIMENSIONS.items():
            expected.breakdowns[name][key(e)].add(e)
    expected.events = sorted(chosen, key=lambda e: (e.ts, e.event_id), reverse=True)
    return expected


def row_key(name: str, row: dict[str, Any]) -> object:
    if name in ("model", "credential"):
        return (row["provider"], row["id"])
    return row["id"]


def check_answer(data: dict[str, Any], expected: Expected) -> None:
    """Totals, every series bucket and every breakdown row equal the recount."""
    check_metrics(data["totals"], expected.totals, "totals")
    series = {datetime.fromisoformat(p["start"]).astimezone(UTC): p for p in data["series"]}
    assert set(expected.series) <= set(series), "a bucket with events is missing"
    for start, point in series.items():
        check_metrics(point, expected.series.get(start, Acc()), f"bucket {start}")
    for name, groups in expected.breakdowns.items():
        rows = {row_key(name, r): r for r in data["breakdowns"][name]}
        assert set(rows) == set(groups), f"{name} rows"
        for key, acc in groups.items():
            check_metrics(rows[key], acc, f"{name} {key}")
