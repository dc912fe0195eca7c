"""The latency histogram of the usage rollups: its bucket bounds, shared by the collector that
writes `latency_hist` and the dashboard queries that read it."""

from __future__ import annotations

HIST_BUCKETS = 16
# Mirrors usage_latency_bounds() in SQL: bucket i covers [bound i, bound i+1) milliseconds.
LATENCY_BOUNDS_MS: tuple[int, ...] = (
    *(0, 100, 250, 500, 750, 1000, 1500, 2000),
    *(3000, 5000, 7500, 10000, 15000, 20000, 30000, 60000),
)
