"""The counters behind the limits, and their in-process store.

Rules (the Redis store runs the same ones in Lua, `redis_counters.py`):
- requests per minute: a sliding log of admitted requests over the last 60 s;
- tokens per minute: a sliding window of twelve 5-second slots; a request is admitted while the
  window has room for its estimate, or when the window is empty (a request larger than the
  whole limit runs alone); its estimate is charged to the slot it started in and replaced by
  the real count when it ends;
- concurrent requests: one lease per request in flight, expiring unless renewed, so a replica
  that dies frees its slots;
- budgets: spend per key and period in nano-USD, at least the floor the caller knows from the
  collector; a request reserves its estimated cost and settles the real cost at the end.

Times are integer milliseconds from the caller's clock (tests drive it by hand). The messages
below are plain slotted dataclasses, not frozen ones: a frozen dataclass's __init__ sets each
field through object.__setattr__, which made building them most of the limiter's cost per
request (bench/limits_overhead.py); nothing mutates them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Protocol

WINDOW_MS = 60_000
SLOT_MS = 5_000
SLOTS = WINDOW_MS // SLOT_MS
LEASE_MS = 30_000  # a lease not renewed for this long is a request whose replica died
CONCURRENCY_RETRY_MS = 1_000

# What refused a request, in the order the checks run.
REQUESTS, TOKENS, CONCURRENCY, DAY, MONTH = "requests", "tokens", "concurrency", "day", "month"
REFUSALS = (None, REQUESTS, TOKENS, CONCURRENCY, DAY, MONTH)


@dataclass(slots=True)
class Budget:
    """One budget of a request: its period, limit, known spend and the request's reservation."""

    period: str  # "2026-05-01" or "2026-05"
    limit: int  # nano-USD
    floor: int  # nano-USD spent as far as the collector and this replica know
    reserve: int  # nano-USD this request reserves
    ttl_s: int  # how long the period's counter lives


@dataclass(slots=True)
class Ask:
    """What one request asks of its key's counters."""

    key: str  # api_key_id
    lease: str  # unique id of this request
    now_ms: int
    rpm: int = 0
    tpm: int = 0
    tokens: int = 0  # estimate charged at admission
    concurrency: int = 0
    day: Budget | None = None
    month: Budget | None = None


@dataclass(slots=True)
class Verdict:
    """Admitted (`refused` None) or why not; the window figures feed `x-ratelimit-*`."""

    refused: str | None
    retry_ms: int = 0
    requests_used: int = 0
    requests_reset_ms: int = 0
    tokens_used: int = 0
    tokens_reset_ms: int = 0
    spent: int = 0  # nano-USD of the refusing budget


@dataclass(slots=True)
class Settlement:
    """What a request used, replacing what it was charged at admission."""

    key: str
    lease: str
    now_ms: int
    charged_slot: int  # the token slot its estimate went to
    charged_tokens: int
    used_tokens: int
    release: bool  # it held a concurrency lease
    day: tuple[str, int] | None = None  # (period, real cost - reservation) in nano-USD
    month: tuple[str, int] | None = None


class Counters(Protocol):
    """A store of the counters: in this process, or shared by every replica."""

    shared: bool

    async def admit(self, ask: Ask) -> Verdict: ...

    async def settle(self, settlement: Settlement) -> None: ...

    async def charge(self, key: str, lease: str, now_ms: int, tokens: int) -> None:
        """Add tokens a stream reported (beyond its estimate) to the window now."""
        ...

    async def renew(self, leases: list[tuple[str, str]], now_ms: int) -> None:
        """Extend the leases (key, lease id) of requests still in flight."""
        ...

    async def close(self) -> None: ...


def slot_of(now_ms: int) -> int:
    return now_ms // SLOT_MS


def tokens_retry_ms(slots: dict[int, int], need: int, now_ms: int) -> int:
    """How long until the oldest slots holding `need` tokens have left the window."""
    freed, at = 0, slot_of(now_ms)
    for slot in sorted(slots):
        freed += slots[slot]
        at = slot
        if freed >= need:
            break
    return (at + SLOTS) * SLOT_MS - now_ms


@dataclass(slots=True)
class _KeyState:
    requests: deque[int] = field(default_factory=deque)
    slots: dict[int, int] = field(default_factory=dict)
    leases: set[str] = field(default_factory=set)
    spend: dict[str, int] = field(default_factory=dict)


class MemoryCounters:
    """The counters of one process: exact for it, blind to other replicas and restarts."""

    shared = False

    def __init__(self) -> None:
        self._keys: dict[str, _KeyState] = {}

    def _state(self, key: str) -> _KeyState:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _KeyState()
        return state

    async def admit(self, ask: Ask) -> Verdict:
        return self.admit_now(ask)

    def admit_now(self, ask: Ask) -> Verdict:
        state = self._state(ask.key)
        now = ask.now_ms
        refused = (
            self._requests_full(state, ask)
            or self._tokens_full(state, ask)
            or self._leases_full(state, ask)
            or self._spent(state, DAY, ask.day)
            or self._spent(state, MONTH, ask.month)
        )
        if refused is not None:  # the window figures of the checks that did not run
            used = refused.requests_used or len(state.requests)
            return replace(
                refused,
                requests_used=used,
                tokens_used=refused.tokens_used or sum(state.slots.values()),
            )
        self._take(state, ask)
        requests_reset = state.requests[0] + WINDOW_MS - now if state.requests else 0
        slots = [s for s, v in state.slots.items() if v > 0]
        tokens_reset = (min(slots) + SLOTS) * SLOT_MS - now if slots else 0
        return Verdict(
            None,
            requests_used=len(state.requests),
            requests_reset_ms=requests_reset,
            tokens_used=sum(state.slots.values()),
            tokens_reset_ms=tokens_reset,
        )

    def _requests_full(self, state: _KeyState, ask: Ask) -> Verdict | None:
        if not ask.rpm:
            return None
        log, cutoff = state.requests, ask.now_ms - WINDOW_MS
        while log and log[0] <= cutoff:
            log.popleft()
        if len(log) < ask.rpm:
            return None
        retry = log[0] + WINDOW_MS - ask.now_ms
        return Verdict(REQUESTS, retry, len(log), retry)

    def _tokens_full(self, state: _KeyState, ask: Ask) -> Verdict | None:
        if not ask.tpm:
            return None
        oldest = slot_of(ask.now_ms) - SLOTS
        for slot in [s for s in state.slots if s <= oldest]:
            del state.slots[slot]
        used = sum(state.slots.values())
        if used < ask.tpm and (used == 0 or used + ask.tokens <= ask.tpm):
            return None
        need = used if ask.tokens > ask.tpm else used + ask.tokens - ask.tpm
        retry = tokens_retry_ms(state.slots, need, ask.now_ms)
        return Verdict(TOKENS, retry, tokens_used=used, tokens_reset_ms=retry)

    def _leases_full(self, state: _KeyState, ask: Ask) -> Verdict | None:
        if not ask.concurrency or len(state.leases) < ask.concurrency:
            return None
        return Verdict(CONCURRENCY, CONCURRENCY_RETRY_MS)

    def _spent(self, state: _KeyState, kind: str, budget: Budget | None) -> Verdict | None:
        if budget is None:
            return None
        spent = max(state.spend.get(budget.period, 0), budget.floor)
        return Verdict(kind, 0, spent=spent) if spent >= budget.limit else None

    def _take(self, state: _KeyState, ask: Ask) -> None:
        if ask.rpm:
            state.requests.append(ask.now_ms)
        if ask.tpm and ask.tokens:
            slot = slot_of(ask.now_ms)
            state.slots[slot] = state.slots.get(slot, 0) + ask.tokens
        if ask.concurrency:
            state.leases.add(ask.lease)
        for budget in (ask.day, ask.month):
            if budget is not None:
                self._charge(state, budget.period, budget.reserve)

    def _charge(self, state: _KeyState, period: str, nano: int) -> None:
        if period not in state.spend and len(state.spend) >= 4:
            for old in sorted(state.spend)[:-2]:  # keep this period and the last ones only
                del state.spend[old]
        state.spend[period] = state.spend.get(period, 0) + nano

    async def settle(self, settlement: Settlement) -> None:
        self.settle_now(settlement)

    def settle_now(self, s: Settlement) -> None:
        state = self._state(s.key)
        held = state.slots.get(s.charged_slot, 0)
        if s.charged_tokens and held:
            state.slots[s.charged_slot] = held - min(held, s.charged_tokens)
        if s.used_tokens:
            slot = slot_of(s.now_ms)
            state.slots[slot] = state.slots.get(slot, 0) + s.used_tokens
        if s.release:
            state.leases.discard(s.lease)
        for change in (s.day, s.month):
            if change is not None and change[0] in state.spend:
                state.spend[change[0]] += change[1]

    async def charge(self, key: str, lease: str, now_ms: int, tokens: int) -> None:
        self.charge_now(key, now_ms, tokens)

    def charge_now(self, key: str, now_ms: int, tokens: int) -> None:
        slots = self._state(key).slots
        slot = slot_of(now_ms)
        slots[slot] = slots.get(slot, 0) + tokens

    async def renew(self, leases: list[tuple[str, str]], now_ms: int) -> None:
        """In-process leases die with the process: nothing to renew."""

    async def close(self) -> None:
        self._keys.clear()
