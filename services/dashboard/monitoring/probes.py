"""What the Monitoring page measures: each proxy replica's health and, from its /metrics,
requests, errors, cooling credentials and usage outbox; the collector's progress from
Postgres (collector_state, collector_cursors); Postgres itself.

Rates need two samples: `Rates` keeps this replica's previous sample of each proxy, so the
first view shows totals and later ones (the page polls every 5 s) show per-second rates.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from prometheus_client.parser import text_string_to_metric_families

from services.core.db import Connection, Pool
from services.dashboard.proxies.client import ManagementClient, ProxyUnavailable

TIMEOUT_S = 3.0
METRICS_LIMIT = 4 * 1024 * 1024
COLLECTOR_STALE_S = 120  # no heartbeat for this long: the collector is not running
COLLECTOR_LAG_S = 300  # no successful round for this long while events wait: lagging


@dataclass(frozen=True, slots=True)
class ProxyProbe:
    label: str
    url: str
    up: bool
    error: str | None = None
    requests_total: float = 0.0
    errors_total: float = 0.0  # 5xx answers and network failures
    request_rate: float | None = None  # per second since this replica's previous sample
    error_rate: float | None = None
    cooling: int = 0
    credentials: int = 0
    outbox_events: int = 0
    outbox_bytes: int = 0
    outbox_alarm: str | None = None  # full | dropping


@dataclass(frozen=True, slots=True)
class CollectorProbe:
    status: str
    leader: str | None
    heartbeat_age_s: float | None
    last_success_age_s: float | None
    last_error: str | None
    events_stored: int

    def lagging(self, waiting_events: int) -> str | None:
        """Why the collector is behind, or None."""
        if self.heartbeat_age_s is None:
            return f"no collector has run, {waiting_events} events wait" if waiting_events else None
        if self.heartbeat_age_s > COLLECTOR_STALE_S:
            return f"no heartbeat for {int(self.heartbeat_age_s)} s"
        if waiting_events and (self.last_success_age_s or 0) > COLLECTOR_LAG_S:
            return f"no successful round for {int(self.last_success_age_s or 0)} s"
        return None


@dataclass(frozen=True, slots=True)
class DatabaseProbe:
    up: bool
    latency_ms: int
    error: str | None = None
    version: str = ""
    size_bytes: int = 0
    connections: int = 0


@dataclass
class Rates:
    """Previous (time, requests, errors) of each proxy URL, for per-second rates."""

    last: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    def update(self, url: str, requests: float, errors: float) -> tuple[float | None, float | None]:
        now = time.monotonic()
        previous = self.last.get(url)
        self.last[url] = (now, requests, errors)
        if previous is None or now - previous[0] < 0.5 or requests < previous[1]:
            return None, None  # first sample, too soon, or the proxy restarted (counters reset)
        span = now - previous[0]
        return (requests - previous[1]) / span, max(0.0, errors - previous[2]) / span


@dataclass(frozen=True, slots=True)
class Snapshot:
    proxies: list[ProxyProbe]
    collector: CollectorProbe | None
    database: DatabaseProbe
    taken_at: datetime

    @property
    def waiting_events(self) -> int:
        return sum(p.outbox_events for p in self.proxies)


async def snapshot(pool: Pool, client: ManagementClient, rates: Rates) -> Snapshot:
    labels = client.labels
    proxies = await asyncio.gather(
        *(_proxy(client, url, label, rates) for url, label in zip(client.urls, labels, strict=True))
    )
    database, collector = await _database(pool)
    return Snapshot(list(proxies), collector, database, datetime.now(UTC))


async def _proxy(client: ManagementClient, url: str, label: str, rates: Rates) -> ProxyProbe:
    try:
        async with asyncio.timeout(TIMEOUT_S):
            health, _ = await client.get_bytes(url, "/healthz", 64 * 1024)
            text, _ = await client.get_bytes(url, "/metrics", METRICS_LIMIT)
    except (ProxyUnavailable, TimeoutError) as exc:
        return ProxyProbe(label, url, False, getattr(exc, "message", type(exc).__name__))
    values = _metrics(text.decode("utf-8", "replace"))
    requests, errors = values["requests"], values["errors"]
    rate, error_rate = rates.update(url, requests, errors)
    return ProxyProbe(
        label=label,
        url=url,
        up=True,
        requests_total=requests,
        errors_total=errors,
        request_rate=rate,
        error_rate=error_rate,
        cooling=int(values.get("proxy_cooldowns_active", 0)),
        credentials=int(values.get("proxy_credentials", 0)),
        outbox_events=int(values.get("proxy_usage_outbox_depth_events", 0)),
        outbox_bytes=int(values.get("proxy_usage_outbox_depth_bytes", 0)),
        outbox_alarm=_outbox_alarm(health, values),
    )


def _metrics(text: str) -> dict[str, float]:
    """Request and error totals, and the proxy's gauges, from its Prometheus text."""
    out: dict[str, float] = {"requests": 0.0, "errors": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "proxy_requests_total":
                out["requests"] += sample.value
                status = sample.labels.get("status", "")
                if status.startswith("5") or status in ("0", "network_error"):
                    out["errors"] += sample.value
            elif sample.name.startswith("proxy_") and not sample.labels:
                out[sample.name] = sample.value
    return out


def _outbox_alarm(health: bytes, values: dict[str, float]) -> str | None:
    try:
        state = orjson.loads(health).get("usage_outbox")
    except (orjson.JSONDecodeError, AttributeError):
        state = None
    if state in ("full", "dropping"):
        return str(state)
    if values.get("proxy_usage_outbox_dropping"):
        return "dropping"
    if values.get("proxy_usage_outbox_full"):
        return "full"
    return None


async def _database(pool: Pool) -> tuple[DatabaseProbe, CollectorProbe | None]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(TIMEOUT_S), pool.connection(timeout=TIMEOUT_S) as conn:
            cur = await conn.execute(
                "SELECT current_setting('server_version'), pg_database_size(current_database()),"
                " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database())"
            )
            version, size, connections = await cur.fetchone() or ("", 0, 0)
            latency = int((time.perf_counter() - started) * 1000)
            collector = await _collector(conn)
    except Exception as exc:  # any failure means "down"; the name says what
        latency = int((time.perf_counter() - started) * 1000)
        return DatabaseProbe(False, latency, type(exc).__name__), None
    return DatabaseProbe(True, latency, None, str(version), int(size), int(connections)), collector


async def _collector(conn: Connection) -> CollectorProbe | None:
    cur = await conn.execute(
        "SELECT status, leader_id, extract(epoch FROM now() - heartbeat_at),"
        " extract(epoch FROM now() - last_success_at), last_error, events_stored"
        " FROM collector_state"
    )
    row = await cur.fetchone()
    if row is None:
        return None
    status, leader, heartbeat, success, error, stored = row
    return CollectorProbe(
        str(status),
        leader,
        float(heartbeat) if heartbeat is not None else None,
        float(success) if success is not None else None,
        error,
        int(stored or 0),
    )
