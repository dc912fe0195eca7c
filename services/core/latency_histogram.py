"""The latency histogram of the usage rollups: its bucket bounds, shared by the collector that
writes `latency_hist` and the dashboard queries that read it."""

from __future__ import annotations

# Mirrors usage_latency_bounds() in SQL (migration 0005): bucket i covers [bound i, bound i+1)
# milliseconds, the last one everything above. Log-spaced from 1 ms (1.5x to 2.5x apart); every
# bound of the first layout is kept, so its rows converted exactly. 27 buckets: each one more
# costs every history query an array read per rollup row (docs/usage.md has the figures).
LATENCY_BOUNDS_MS: tuple[int, ...] = (
    *(0, 1, 2, 3, 5, 10, 20, 30, 50, 100, 150, 250, 500, 750, 1000, 1500, 2000, 3000, 5000),
    *(7500, 10000, 15000, 20000, 30000, 60000, 120000, 300000),
)
HIST_BUCKETS = len(LATENCY_BOUNDS_MS)
