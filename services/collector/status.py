"""What the collector is doing right now, shared by the worker, /healthz and /metrics."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class ProxyStatus:
    """One proxy URL as the collector last saw it."""

    url: str
    instance_id: str | None = None
    cursor: int | None = None
    acked: int | None = None  # last seq the proxy confirmed it may drop
    last_drained_at: float | None = None  # monotonic time of the last non-full page
    last_error: str | None = None
    failures: int = 0
    retry_at: float = 0.0  # monotonic time before which the proxy is not asked again

    def lag_seconds(self, now: float) -> float | None:
        """Upper bound on how old the newest uncollected event can be (None: never drained)."""
        return None if self.last_drained_at is None else max(now - self.last_drained_at, 0.0)


@dataclass
class CollectorStatus:
    """Role, database health and per-proxy progress of one collector process."""

    leader_id: str
    proxies: dict[str, ProxyStatus]
    role: str = "starting"  # starting | standby | leader | stopping
    database_ok: bool = False
    last_success_at: float | None = None  # wall clock
    last_error: str | None = None
    stored_since_start: int = 0

    @classmethod
    def for_urls(cls, leader_id: str, urls: tuple[str, ...]) -> CollectorStatus:
        return cls(leader_id=leader_id, proxies={url: ProxyStatus(url) for url in urls})

    def snapshot(self) -> dict[str, object]:
        """The /healthz body."""
        now = time.monotonic()
        return {
            "status": "ok" if self.database_ok else "degraded",
            "role": self.role,
            "leader_id": self.leader_id,
            "database": "ok" if self.database_ok else "down",
            "last_success_at": self.last_success_at,
            "last_error": self.last_error,
            "events_stored": self.stored_since_start,
            "proxies": {
                url: {
                    "instance_id": p.instance_id,
                    "cursor": p.cursor,
                    "acked": p.acked,
                    "lag_seconds": p.lag_seconds(now),
                    "last_error": p.last_error,
                }
                for url, p in self.proxies.items()
            },
        }


@dataclass
class Metrics:
    """Prometheus metrics of one collector (own registry, so tests can run several)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.stored = Counter(
            "usage_collector_events_stored", "Events inserted", ["proxy"], registry=r
        )
        self.duplicates = Counter(
            "usage_collector_events_duplicate",
            "Events received again and skipped (replays)",
            ["proxy"],
            registry=r,
        )
        self.rejected = Counter(
            "usage_collector_events_rejected", "Events set aside", ["proxy"], registry=r
        )
        self.batches = Counter("usage_collector_batches", "Pages committed", ["proxy"], registry=r)
        self.errors = Counter("usage_collector_errors", "Failures by kind", ["kind"], registry=r)
        self.batch_seconds = Histogram(
            "usage_collector_batch_seconds", "Fetch to ack time of one page", registry=r
        )
        self.leader = Gauge("usage_collector_leader", "1 when this process leads", registry=r)
        self.last_success = Gauge(
            "usage_collector_last_success_timestamp_seconds",
            "Wall clock of the last committed page",
            registry=r,
        )
        self.lag = Gauge(
            "usage_collector_lag_seconds",
            "Seconds since the proxy's outbox was last drained",
            ["proxy"],
            registry=r,
        )
        self.cursor = Gauge(
            "usage_collector_cursor", "Last stored seq per proxy", ["proxy"], registry=r
        )

    def forget(self, url: str) -> None:
        """Drop the gauges of a replica no longer polled (its counters keep their totals)."""
        for gauge in (self.lag, self.cursor):
            with contextlib.suppress(KeyError):
                gauge.remove(url)

    def observe(self, status: CollectorStatus) -> None:
        """Refresh the gauges that derive from the status (called on every scrape)."""
        now = time.monotonic()
        self.leader.set(1 if status.role == "leader" else 0)
        if status.last_success_at is not None:
            self.last_success.set(status.last_success_at)
        for url, proxy in status.proxies.items():
            lag = proxy.lag_seconds(now)
            if lag is not None:
                self.lag.labels(url).set(lag)
            if proxy.cursor is not None:
                self.cursor.labels(url).set(proxy.cursor)
