"""Orders a model's credentials for one request: priority tiers, then the routing strategy.

round-robin rotates a cursor per model and tier; fill-first keeps file order so the first
healthy credential takes all traffic; weighted-round-robin is smooth WRR (nginx's algorithm)
on each credential's `weight`. Cooling credentials are skipped by the caller, so lower tiers
serve only while every credential above them is cooling or failing.
"""

from __future__ import annotations

from collections.abc import Iterator

from .registry import Target, Tiers


class Selector:
    """Keeps the per-model cursors; survives reloads (cursors of gone models are harmless)."""

    def __init__(self) -> None:
        self._cursor: dict[tuple[str, int], int] = {}
        self._current: dict[tuple[str, int], dict[str, int]] = {}

    def order(self, model: str, tiers: Tiers, strategy: str) -> Iterator[Target]:
        for level, tier in enumerate(tiers):
            if len(tier) == 1:
                yield tier[0]
            elif strategy == "fill-first":
                yield from tier
            elif strategy == "weighted-round-robin":
                yield from self._weighted(model, level, tier)
            else:
                yield from self._rotated(model, level, tier)

    def _rotated(self, model: str, level: int, tier: tuple[Target, ...]) -> Iterator[Target]:
        key = (model, level)
        start = self._cursor.get(key, 0) % len(tier)
        self._cursor[key] = start + 1
        yield from tier[start:]
        yield from tier[:start]

    def _weighted(self, model: str, level: int, tier: tuple[Target, ...]) -> Iterator[Target]:
        current = self._current.setdefault((model, level), {})
        total = 0
        best: Target | None = None
        for target in tier:
            weight = target.credential.weight
            total += weight
            value = current.get(target.credential.id, 0) + weight
            current[target.credential.id] = value
            if weight > 0 and (best is None or value > current[best.credential.id]):
                best = target
        if best is None:  # every weight is zero: fall back to file order
            yield from tier
            return
        current[best.credential.id] -= total
        yield best
        yield from (t for t in tier if t is not best)
