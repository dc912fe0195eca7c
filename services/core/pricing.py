"""The cost of usage in Python, the same as the database computes it (migration 0003).

The collector prices each event in SQL (`usage_price_for`, `usage_event_cost`); the proxy
prices requests in flight with the same rules from the price list the collector publishes
(docs/limits.md), so a budget counts the same dollars on both sides. A test keeps the two
formulas equal (tests/integration/usage/test_pricing_parity.py).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_SNAPSHOT = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1,000,000 tokens of one (provider, model); None prices fall back as in SQL."""

    provider: str
    model: str
    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "input": self.input,
            "output": self.output,
            "cached_input": self.cached_input,
            "cache_write": self.cache_write,
            "reasoning": self.reasoning,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Price:
        """Raises ValueError or TypeError when a field is missing or not a number."""
        return cls(
            provider=str(data["provider"]),
            model=str(data["model"]),
            input=_rate(data["input"]),
            output=_rate(data["output"]),
            cached_input=_optional_rate(data.get("cached_input")),
            cache_write=_optional_rate(data.get("cache_write")),
            reasoning=_optional_rate(data.get("reasoning")),
        )


def _rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError("a price must be a non-negative number")
    return float(value)


def _optional_rate(value: Any) -> float | None:
    return None if value is None else _rate(value)


def model_base(model: str) -> str:
    """`usage_model_base`: the lower-case name without a trailing snapshot date."""
    return _SNAPSHOT.sub("", model.lower())


class PriceBook:
    """`usage_price_for` over the prices in force now (one per provider and model)."""

    def __init__(self, prices: Iterable[Price] = ()) -> None:
        self.prices = tuple(prices)
        self._by_model: dict[str, list[Price]] = defaultdict(list)
        for price in self.prices:
            self._by_model[price.model.lower()].append(price)
        self._cache: dict[tuple[str, str], Price | None] = {}

    def __len__(self) -> int:
        return len(self.prices)

    def find(self, provider: str, model: str) -> Price | None:
        key = (provider, model)
        if key not in self._cache:
            self._cache[key] = self._lookup(provider.lower(), model.lower())
        return self._cache[key]

    def _lookup(self, provider: str, model: str) -> Price | None:
        names = (model, model_base(model))
        candidates = [p for name in dict.fromkeys(names) for p in self._by_model.get(name, [])]
        if not candidates:
            return None
        own = [p for p in candidates if p.provider.lower() == provider]
        if not own and len({p.provider.lower() for p in candidates}) != 1:
            return None  # another provider's price counts only when it is the only one
        pool = own or candidates
        exact = [p for p in pool if p.model.lower() == model]
        return (exact or pool)[0]


def cost_usd(
    price: Price,
    *,
    input_tokens: int,
    output_tokens: int,
    reasoning_tokens: int = 0,
    cached_tokens: int = 0,
    cache_read_tokens: int = 0,
    cache_creation_tokens: int = 0,
) -> float:
    """`usage_event_cost`: input counts every prompt token (cache reads and writes included),
    output counts reasoning."""
    cached = max(cached_tokens, cache_read_tokens)
    fresh = max(input_tokens - cached - cache_creation_tokens, 0)
    total = fresh * price.input
    total += cached * (price.input if price.cached_input is None else price.cached_input)
    total += cache_creation_tokens * (
        price.input if price.cache_write is None else price.cache_write
    )
    if price.reasoning is None:
        total += output_tokens * price.output
    else:
        total += max(output_tokens - reasoning_tokens, 0) * price.output
        total += reasoning_tokens * price.reasoning
    return total / 1_000_000
