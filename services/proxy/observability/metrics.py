"""Prometheus metrics of the proxy: requests, latency, upstream outcomes, cooldowns, outbox.

No label ever carries key material: routes, providers and status classes only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def _status_class(status: int) -> str:
    if status == 0:
        return "network_error"
    if status == 499:
        return "client_closed"
    return f"{status // 100}xx"


class _Gauges(Collector):
    """Gauges read at scrape time from the live objects (no bookkeeping on the request path)."""

    def __init__(self, read: Callable[[], dict[str, float]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        for name, value in self._read().items():
            family = GaugeMetricFamily(f"proxy_{name}", name.replace("_", " "))
            family.add_metric([], value)
            yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "proxy_requests",
            "Client requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "proxy_request_duration_seconds",
            "Client request duration by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._attempts = Counter(
            "proxy_upstream_attempts",
            "Upstream attempts by provider and status class",
            ["provider", "status"],
            registry=self.registry,
        )
        self._ttft = Histogram(
            "proxy_time_to_first_byte_seconds",
            "Upstream time to first streamed byte",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._attempt_children: dict[tuple[str, int], Counter] = {}
        self.limit_refusals = Counter(
            "proxy_limit_refusals",
            "Requests a client key's limits refused, by limit",
            ["limit"],
            registry=self.registry,
        )
        self.config_reloads = Counter(
            "proxy_config_reloads", "Config reloads by result", ["result"], registry=self.registry
        )

    def add_gauges(self, read: Callable[[], dict[str, float]]) -> None:
        self.registry.register(_Gauges(read))

    def request(self, route: str, status: int, seconds: float) -> None:
        key = (route, status)
        children = self._request_children.get(key)
        if children is None:  # labels() is a locked dict lookup; cache the children once
            children = (self._requests.labels(route, str(status)), self._duration.labels(route))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def upstream_attempt(self, provider: str, status: int) -> None:
        key = (provider, status)
        child = self._attempt_children.get(key)
        if child is None:
            child = self._attempt_children[key] = self._attempts.labels(
                provider, _status_class(status)
            )
        child.inc()

    def ttft(self, seconds: float) -> None:
        self._ttft.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
