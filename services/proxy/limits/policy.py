"""A client key's limits as the request path reads them, built once per config snapshot.

`api-key-limits` is keyed like `api-keys` (`sha256:<hex>` or the key itself) and looked up by
the request's `api_key_id`; `*` is the entry of every key without one of its own.

The model rule is checked on what a request would reach, never on the name it was asked by:
the executor's targets after the thinking suffix is parsed off and the model id (an alias, a
`prefix/` form) is resolved. Patterns are matched against the targets' upstream model names;
a pattern that is a public model id also stands for the upstream models it resolves to.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from ..config.model import KeyLimits, ProxyConfig
from ..routing.registry import ModelIndex, Target, Tiers
from ..routing.runtime import key_digest

DEFAULT_ENTRY = "*"
_WILDCARDS = frozenset("*?[")


class ModelRule:
    """Which upstream models a key may reach; answers are cached per model name."""

    def __init__(self, patterns: Sequence[str], index: ModelIndex) -> None:
        self.patterns = tuple(patterns)
        self._names: set[str] = set()
        self._globs: list[str] = []
        for pattern in patterns:
            lowered = pattern.lower()
            if _WILDCARDS & set(pattern):
                self._globs.append(lowered)
            else:
                self._names.add(lowered)
            for tier in index.lookup(pattern) or ():
                self._names.update(t.upstream_model.lower() for t in tier)
        self._cache: dict[str, bool] = {}
        self._filtered: dict[int, tuple[Tiers, Tiers]] = {}

    def allows(self, upstream_model: str) -> bool:
        allowed = self._cache.get(upstream_model)
        if allowed is None:
            name = upstream_model.lower()
            allowed = name in self._names or any(
                fnmatch.fnmatchcase(name, glob) for glob in self._globs
            )
            self._cache[upstream_model] = allowed
        return allowed

    def filter(self, tiers: Tiers) -> Tiers:
        """The tiers with only the targets this key may use (empty tiers dropped); the same
        object for the same tiers (they belong to the config snapshot this rule was built for,
        so the cache lives as long as they do)."""
        cached = self._filtered.get(id(tiers))
        if cached is not None and cached[0] is tiers:
            return cached[1]
        kept = (tuple(t for t in tier if self.allows(t.upstream_model)) for tier in tiers)
        allowed = tuple(tier for tier in kept if tier)
        self._filtered[id(tiers)] = (tiers, allowed)
        return allowed

    def first_allowed(self, targets: Sequence[Target]) -> bool:
        return any(self.allows(t.upstream_model) for t in targets)


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """What one key may do; budgets in nano-USD (integers add up exactly in every store)."""

    limits: KeyLimits
    models: ModelRule | None

    @property
    def counted(self) -> bool:
        """True when admission needs the counters (anything but the model rule)."""
        lim = self.limits
        return bool(
            lim.requests_per_minute
            or lim.tokens_per_minute
            or lim.concurrent_requests
            or self.budgeted
        )

    @property
    def budgeted(self) -> bool:
        return bool(self.limits.daily_budget_usd or self.limits.monthly_budget_usd)


def _policy(limits: KeyLimits, index: ModelIndex) -> KeyPolicy | None:
    if limits.empty:
        return None
    rule = ModelRule(limits.allowed_models, index) if limits.allowed_models else None
    return KeyPolicy(limits, rule)


class PolicyTable:
    """`api_key_id` (16 hex of the key's SHA-256) -> its policy, or None for no limits."""

    def __init__(self, config: ProxyConfig, index: ModelIndex) -> None:
        self._by_id: dict[str, KeyPolicy | None] = {}
        self._default: KeyPolicy | None = None
        for name, limits in config.api_key_limits.items():
            if name.strip() == DEFAULT_ENTRY:
                self._default = _policy(limits, index)
                continue
            digest = key_digest(name)
            if digest is not None:
                # An explicit entry wins over "*", even an empty one (this key: no limits).
                self._by_id[digest.hex()[:16]] = _policy(limits, index)

        self._any = self._default is not None or any(p is not None for p in self._by_id.values())

    def __bool__(self) -> bool:
        return self._any

    def get(self, api_key_id: str) -> KeyPolicy | None:
        return self._by_id.get(api_key_id, self._default)
