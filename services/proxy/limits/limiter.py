"""Admission of a call against its key's limits, and the lease that settles what it used.

`check_model` refuses (403) a model the key may not reach and narrows the call's targets to
those it may; `admit` asks the counters for room (one call to the store, one round trip when it
is Redis) and returns a `Lease`, or refuses (429). The lease is the call's meter: the recorder
tells it each attempt's tokens, and `close` (in a `finally`, so a client that leaves settles
too) replaces the estimates with what was used and frees the concurrency slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from services.core.errors import Forbidden, TooManyRequests
from services.core.pricing import PriceBook, cost_usd

from ..routing.codec_contract import Call, StreamProcessor
from ..routing.registry import Target, Tiers
from ..routing.runtime import Runtime
from ..translate import estimate_input_tokens
from ..translate.usage import Usage
from . import periods
from .counters import (
    CONCURRENCY,
    DAY,
    LEASE_MS,
    MONTH,
    REQUESTS,
    TOKENS,
    Ask,
    Budget,
    Counters,
    MemoryCounters,
    Settlement,
    Verdict,
    slot_of,
)
from .policy import KeyPolicy, PolicyTable
from .redis_counters import RedisCounters
from .spend import NANO, SpendBook

log = structlog.get_logger(__name__)

# Reserved for a budget when the request names no output cap (docs/limits.md).
DEFAULT_OUTPUT_RESERVE = 4096
# Bodies up to this size are estimated at 4 bytes per token (an overestimate of their text);
# larger ones are parsed, so base64 media counts as media, not as text.
CHEAP_ESTIMATE_BYTES = 32 * 1024
MAX_CACHED_RATES = 4096
METER_INTERVAL_S = 1.0  # how often streams' reported tokens reach the TPM window
DAY_TTL_S = 2 * 86_400
MONTH_TTL_S = 32 * 86_400

# The `refused` field of the usage event of a refused request.
REFUSED_MODEL = "model_not_allowed"
_REFUSED = {
    REQUESTS: "requests_per_minute",
    TOKENS: "tokens_per_minute",
    CONCURRENCY: "concurrent_requests",
    DAY: "daily_budget",
    MONTH: "monthly_budget",
}


class ModelNotAllowed(Forbidden):
    code = "model_not_allowed"
    refused = REFUSED_MODEL


class LimitExceeded(TooManyRequests):
    """A 429 naming the limit; `refused` is the usage event's reason."""

    code = "rate_limit_exceeded"

    def __init__(self, message: str, refused: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.refused = refused


def output_cap(body: dict[str, Any]) -> int | None:
    """The most output tokens the request allows, in any of the four formats."""
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    config = body.get("generationConfig")
    value = config.get("maxOutputTokens") if isinstance(config, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def input_estimate(call: Call) -> int:
    raw = call.extra.get("raw")
    size = len(raw) if isinstance(raw, bytes | bytearray) else 0
    if size <= CHEAP_ESTIMATE_BYTES:
        return size // 4 + 1
    try:
        return estimate_input_tokens(call.body, call.client_fmt)
    except (ValueError, TypeError, KeyError):
        return size // 4


class Lease:
    """One admitted call's hold on its key's counters; the call's attempt meter."""

    def __init__(self, limiter: Limiter, ask: Ask, verdict: Verdict, policy: KeyPolicy) -> None:
        self._limiter = limiter
        self.ask = ask
        self.policy = policy
        self.headers = rate_headers(policy, verdict)
        self.tokens = 0
        self.cost = 0  # nano-USD of the attempts so far
        self.closed = False
        self.live: StreamProcessor | None = None  # the stream being relayed now
        self.charged_live = 0  # tokens charged while streaming, beyond the estimate

    def watch(self, proc: StreamProcessor) -> None:
        """Count a stream's tokens as the upstream reports them (when TPM is limited)."""
        if self.ask.tpm and not self.closed:
            self.live = proc
            self._limiter.streaming.add(self)

    def observed(self) -> int:
        """Tokens used so far: finished attempts, plus the stream in flight."""
        live = self.live.tokens if self.live is not None else None
        return self.tokens + (live.input_tokens + live.output_tokens if live else 0)

    @property
    def reserved(self) -> int:
        budget = self.ask.day or self.ask.month
        return budget.reserve if budget is not None else 0

    def attempted(self, target: Target, tokens: Usage | None) -> None:
        self.live = None  # the attempt is over: its tokens are counted below
        if tokens is None:
            return
        self.tokens += tokens.input_tokens + tokens.output_tokens
        if self.policy.budgeted:
            self.cost += self._limiter.cost(target, tokens)

    def close(self) -> None:
        """Settle once: the real tokens and cost replace the estimates, the slot is freed."""
        if not self.closed:
            self.closed = True
            self._limiter.settle(self)


def rate_headers(policy: KeyPolicy, verdict: Verdict) -> dict[str, str]:
    """`x-ratelimit-*` as OpenAI sends them, for the limits the key has."""
    headers: dict[str, str] = {}
    limits = policy.limits
    for kind, limit, used, reset in (
        ("requests", limits.requests_per_minute, verdict.requests_used, verdict.requests_reset_ms),
        ("tokens", limits.tokens_per_minute, verdict.tokens_used, verdict.tokens_reset_ms),
    ):
        if limit:
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(max(limit - used, 0))
            headers[f"x-ratelimit-reset-{kind}"] = periods.duration(reset)
    return headers


def counters_for(url: str) -> Counters:
    """The store `limits-store` names: Redis or Valkey, or this process when empty."""
    return RedisCounters(url) if url else MemoryCounters()


class Limiter:
    """The limits of every key, over one counter store; one per process."""

    def __init__(
        self,
        counters: Counters,
        spend: SpendBook | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.counters = counters
        self.store_url = ""
        self.spend = spend or SpendBook()
        self.clock = clock
        self._table: tuple[Runtime | None, PolicyTable | None] = (None, None)
        self._leases: dict[str, Lease] = {}  # in flight, for lease renewal
        self.streaming: set[Lease] = set()  # streams whose tokens are metered as they arrive
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count()
        self._prefix = os.urandom(6).hex()
        self._periods = periods.PeriodIds()
        # The dearest (input, output) USD per token of a call's targets, per price list.
        self._rates: dict[int, tuple[Tiers, tuple[float, float]]] = {}
        self._rates_of: PriceBook | None = None

    @property
    def store_available(self) -> bool:
        return not isinstance(self.counters, RedisCounters) or self.counters.available

    def use_store(self, url: str) -> None:
        """Switch to the store a reloaded config names (the old one closes in the background)."""
        if url == self.store_url:
            return
        old, self.counters, self.store_url = self.counters, counters_for(url), url
        log.info("limits_store_changed", shared=bool(url))
        self._background(old.close())

    def policy(self, call: Call) -> KeyPolicy | None:
        return self.policy_for(call.runtime, call.api_key_id)

    def policy_for(self, runtime: Runtime, api_key_id: str) -> KeyPolicy | None:
        built_for, table = self._table
        if built_for is not runtime or table is None:
            table = PolicyTable(runtime.config, runtime.index)
            self._table = (runtime, table)
        return table.get(api_key_id) if table else None

    def check_model(self, call: Call, policy: KeyPolicy) -> Tiers | None:
        """The call's targets this key may use; ModelNotAllowed when it asks for none of them.
        None when the model does not exist (the executor answers that)."""
        tiers = call.runtime.index.lookup(call.model)
        if tiers is None or policy.models is None:
            return tiers
        allowed = policy.models.filter(tiers)
        if not allowed:
            raise ModelNotAllowed(f"This API key may not use the model '{call.model}'")
        return allowed

    async def admit(self, call: Call, policy: KeyPolicy, tiers: Tiers | None) -> Lease:
        now = self.clock()
        ask = self._ask(call, policy, tiers, now)
        verdict = await self.counters.admit(ask)
        if verdict.refused is not None:
            raise self._refusal(policy, verdict, now)
        lease = Lease(self, ask, verdict, policy)
        if lease.reserved:
            self.spend.reserve(ask.key, lease.reserved)
        if ask.concurrency:
            self._leases[ask.lease] = lease
        return lease

    def _ask(self, call: Call, policy: KeyPolicy, tiers: Tiers | None, now: float) -> Ask:
        limits = policy.limits
        tokens = 0
        if limits.tokens_per_minute or policy.budgeted:
            tokens = input_estimate(call)
        cap = output_cap(call.body)
        day = month = None
        if policy.budgeted:
            reserve = self._reserve(tiers, tokens, cap or DEFAULT_OUTPUT_RESERVE)
            day_id, month_id = self._periods.at(now)
            floor_day, floor_month = self.spend.floor(call.api_key_id, day_id, month_id)
            if limits.daily_budget_usd:
                limit = round(limits.daily_budget_usd * NANO)
                day = Budget(day_id, limit, floor_day, reserve, DAY_TTL_S)
            if limits.monthly_budget_usd:
                limit = round(limits.monthly_budget_usd * NANO)
                month = Budget(month_id, limit, floor_month, reserve, MONTH_TTL_S)
        return Ask(
            key=call.api_key_id,
            lease=f"{self._prefix}{next(self._ids)}",
            now_ms=int(now * 1000),
            rpm=limits.requests_per_minute,
            tpm=limits.tokens_per_minute,
            tokens=tokens + (cap or 0) if limits.tokens_per_minute else 0,
            concurrency=limits.concurrent_requests,
            day=day,
            month=month,
        )

    def _reserve(self, tiers: Tiers | None, input_tokens: int, output_tokens: int) -> int:
        """The dearest target's cost for the estimate: what the call may spend at most."""
        if not tiers:
            return 0
        per_input, per_output = self._dearest(tiers)
        return round((input_tokens * per_input + output_tokens * per_output) * NANO)

    def _dearest(self, tiers: Tiers) -> tuple[float, float]:
        """The highest input and output prices (USD per token) among `tiers`' targets; kept
        per tiers object (the policy's model rule returns the same one for the same model)
        until the price list changes."""
        prices = self.spend.prices
        if self._rates_of is not prices or len(self._rates) > MAX_CACHED_RATES:
            self._rates, self._rates_of = {}, prices  # new prices, or old config snapshots
        cached = self._rates.get(id(tiers))
        if cached is not None and cached[0] is tiers:
            return cached[1]
        found = [
            prices.find(t.credential.channel, t.upstream_model) for tier in tiers for t in tier
        ]
        rates = (
            max((p.input for p in found if p is not None), default=0.0) / 1_000_000,
            max((p.output for p in found if p is not None), default=0.0) / 1_000_000,
        )
        self._rates[id(tiers)] = (tiers, rates)
        return rates

    def cost(self, target: Target, tokens: Usage) -> int:
        price = self.spend.prices.find(target.credential.channel, target.upstream_model)
        if price is None:
            return 0
        usd = cost_usd(
            price,
            input_tokens=tokens.input_tokens,
            output_tokens=tokens.output_tokens,
            reasoning_tokens=tokens.reasoning_tokens,
            cached_tokens=tokens.cached_tokens,
            cache_read_tokens=tokens.cache_read_tokens,
            cache_creation_tokens=tokens.cache_creation_tokens,
        )
        return round(usd * NANO)

    def _refusal(self, policy: KeyPolicy, verdict: Verdict, now: float) -> LimitExceeded:
        kind = verdict.refused
        assert kind is not None
        headers = rate_headers(policy, verdict)
        if kind in (DAY, MONTH):
            return self._budget_spent(policy, kind, verdict, now, headers)
        retry = max((verdict.retry_ms + 999) // 1000, 1)
        headers["Retry-After"] = str(retry)
        limits = policy.limits
        message = {
            REQUESTS: f"{limits.requests_per_minute} requests per minute",
            TOKENS: f"{limits.tokens_per_minute} tokens per minute",
            CONCURRENCY: f"{limits.concurrent_requests} concurrent requests",
        }[kind]
        return LimitExceeded(
            f"Rate limit reached for this API key: {message}; retry in {retry}s",
            _REFUSED[kind],
            headers=headers,
        )

    def _budget_spent(
        self, policy: KeyPolicy, kind: str, verdict: Verdict, now: float, headers: dict[str, str]
    ) -> LimitExceeded:
        daily = kind == DAY
        ends = periods.day_end(now) if daily else periods.month_end(now)
        budget = policy.limits.daily_budget_usd if daily else policy.limits.monthly_budget_usd
        headers["Retry-After"] = str(max(int(ends - now + 0.999), 1))
        message = (
            f"This API key's {'daily' if daily else 'monthly'} budget of ${budget:.2f} is spent"
            f" (${verdict.spent / NANO:.2f}); it resets at {periods.iso(ends)} (budget_exceeded)"
        )
        return LimitExceeded(
            message,
            _REFUSED[kind],
            code="budget_exceeded",
            headers=headers,
            details={"reset_time": periods.iso(ends)},
        )

    def settle(self, lease: Lease) -> None:
        ask = lease.ask
        self._leases.pop(ask.lease, None)
        self.streaming.discard(lease)
        if lease.reserved:
            self.spend.settle(ask.key, lease.reserved, lease.cost)
        delta = lease.cost - lease.reserved
        settlement = Settlement(
            key=ask.key,
            lease=ask.lease,
            now_ms=int(self.clock() * 1000),
            charged_slot=slot_of(ask.now_ms),
            charged_tokens=ask.tokens,
            used_tokens=max(lease.tokens - lease.charged_live, 0) if ask.tpm else 0,
            release=bool(ask.concurrency),
            day=(ask.day.period, delta) if ask.day else None,
            month=(ask.month.period, delta) if ask.month else None,
        )
        if isinstance(self.counters, MemoryCounters):
            self.counters.settle_now(settlement)
            return
        # In the background: the response is done, and a client that left cancelled the task
        # this runs in (the settlement must still happen).
        self._background(self.counters.settle(settlement))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def renew_leases(self, interval_s: float = LEASE_MS / 3000) -> None:
        """Keep the concurrency leases of long requests alive (shared store only)."""
        while True:
            await asyncio.sleep(interval_s)
            leases = [(lease.ask.key, lease_id) for lease_id, lease in self._leases.items()]
            if leases:
                await self.counters.renew(leases, int(self.clock() * 1000))

    async def meter_streams(self, interval_s: float = METER_INTERVAL_S) -> None:
        """Charge the tokens streams report beyond their estimate, every `interval_s`."""
        while True:
            await asyncio.sleep(interval_s)
            await self.meter_once()

    async def meter_once(self) -> None:
        now_ms = int(self.clock() * 1000)
        for lease in list(self.streaming):
            extra = lease.observed() - lease.ask.tokens - lease.charged_live
            if extra > 0 and not lease.closed:
                lease.charged_live += extra
                await self.counters.charge(lease.ask.key, lease.ask.lease, now_ms, extra)

    async def drain(self) -> None:
        """Wait for the settlements in flight (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.drain()
        await self.counters.close()
