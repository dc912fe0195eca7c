"""Per-credential traffic counters for the management API (success, failed, recent buckets).

Kept in memory only: one dict increment per upstream attempt on the request path. The
durable record of traffic is the usage outbox; these feed the Management Center's live view.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

BUCKET_SECONDS = 600
BUCKETS_KEPT = 20


@dataclass(slots=True)
class _Counters:
    success: int = 0
    failed: int = 0
    buckets: dict[int, list[int]] = field(default_factory=dict)  # bucket -> [success, failed]


class CredentialStats:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._by_id: dict[str, _Counters] = defaultdict(_Counters)

    def record(self, cred_id: str, ok: bool) -> None:
        counters = self._by_id[cred_id]
        bucket = int(self._clock()) // BUCKET_SECONDS
        pair = counters.buckets.get(bucket)
        if pair is None:
            pair = counters.buckets[bucket] = [0, 0]
            for old in [b for b in counters.buckets if b <= bucket - BUCKETS_KEPT]:
                del counters.buckets[old]
        if ok:
            counters.success += 1
            pair[0] += 1
        else:
            counters.failed += 1
            pair[1] += 1

    def totals(self, cred_id: str) -> tuple[int, int]:
        counters = self._by_id.get(cred_id)
        return (counters.success, counters.failed) if counters else (0, 0)

    def recent(self, cred_id: str) -> list[tuple[float, int, int]]:
        """(bucket start epoch, success, failed) for the last BUCKETS_KEPT buckets, oldest first."""
        counters = self._by_id.get(cred_id)
        now = int(self._clock()) // BUCKET_SECONDS
        out = []
        for bucket in range(now - BUCKETS_KEPT + 1, now + 1):
            pair = counters.buckets.get(bucket, [0, 0]) if counters else [0, 0]
            out.append((float(bucket * BUCKET_SECONDS), pair[0], pair[1]))
        return out
