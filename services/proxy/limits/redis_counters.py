"""The counters in a shared Redis or Valkey (`limits-store`): every replica sees the same
counts, and they outlive restarts.

Admission is one EVALSHA (one round trip) running the rules of `counters.py` atomically in
Lua; settling is another, sent in the background after the response. Each key's counters share
a hash tag (`{api_key_id}`), so the scripts also run on a Redis Cluster.

If the store cannot be reached, the limits are enforced by this replica alone (its in-process
counters) until the store answers again: a broken store never opens a key to unlimited use,
nor takes the gateway down. `/healthz` and `/metrics` show it.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from .counters import (
    CONCURRENCY_RETRY_MS,
    LEASE_MS,
    REFUSALS,
    SLOT_MS,
    WINDOW_MS,
    Ask,
    MemoryCounters,
    Settlement,
    Verdict,
)

log = structlog.get_logger(__name__)

PREFIX = "gw:lim:"
RETRY_AFTER_FAILURE_S = 1.0  # after a failed call, requests skip the store this long
TIMEOUT_S = 0.5

# KEYS: requests log, token slots, leases, day spend, month spend.
# ARGV: now, lease id, rpm, tpm, tokens, concurrency, lease ms, day limit, day floor,
#       day reserve, day ttl, month limit, month floor, month reserve, month ttl, window, slot.
# Returns {refusal index, retry ms, requests used, requests reset ms, tokens used,
#          tokens reset ms, spent}.
ADMIT = """
local now, id = tonumber(ARGV[1]), ARGV[2]
local rpm, tpm = tonumber(ARGV[3]), tonumber(ARGV[4])
local tokens, conc = tonumber(ARGV[5]), tonumber(ARGV[6])
local lease_ms = tonumber(ARGV[7])
local W, S = tonumber(ARGV[16]), tonumber(ARGV[17])
local N = W / S
local cur = math.floor(now / S)
local req_used, tok_used = 0, 0
local slots = {}
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - W)
  req_used = redis.call('ZCARD', KEYS[1])
  if req_used >= rpm then
    local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
    return {1, oldest + W - now, req_used, oldest + W - now, 0, 0, 0}
  end
end
if tpm > 0 then
  local flat = redis.call('HGETALL', KEYS[2])
  for i = 1, #flat, 2 do
    local slot, value = tonumber(flat[i]), tonumber(flat[i + 1])
    if slot <= cur - N then
      redis.call('HDEL', KEYS[2], flat[i])
    elseif value > 0 then
      tok_used = tok_used + value
      slots[#slots + 1] = {slot, value}
    end
  end
  if tok_used >= tpm or (tok_used > 0 and tok_used + tokens > tpm) then
    table.sort(slots, function(a, b) return a[1] < b[1] end)
    local need = tok_used + tokens - tpm
    if tokens > tpm then need = tok_used end
    local freed, at = 0, cur
    for _, entry in ipairs(slots) do
      freed = freed + entry[2]
      at = entry[1]
      if freed >= need then break end
    end
    local retry = (at + N) * S - now
    return {2, retry, req_used, 0, tok_used, retry, 0}
  end
end
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= conc then
    return {3, tonumber(ARGV[18]), req_used, 0, tok_used, 0, 0}
  end
end
for i, base in ipairs({8, 12}) do
  local limit = tonumber(ARGV[base])
  if limit > 0 then
    local held = tonumber(redis.call('GET', KEYS[3 + i]) or '0')
    local spent = math.max(held, tonumber(ARGV[base + 1]))
    if spent >= limit then return {3 + i, 0, req_used, 0, tok_used, 0, spent} end
  end
end
local req_reset, tok_reset = 0, 0
if rpm > 0 then
  redis.call('ZADD', KEYS[1], now, id)
  redis.call('PEXPIRE', KEYS[1], W)
  req_used = req_used + 1
  req_reset = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]) + W - now
end
if tpm > 0 then
  if tokens > 0 then
    redis.call('HINCRBY', KEYS[2], cur, tokens)
    redis.call('PEXPIRE', KEYS[2], W + S)
    tok_used = tok_used + tokens
    slots[#slots + 1] = {cur, tokens}
  end
  local first = nil
  for _, entry in ipairs(slots) do
    if first == nil or entry[1] < first then first = entry[1] end
  end
  if first ~= nil then tok_reset = (first + N) * S - now end
end
if conc > 0 then
  redis.call('ZADD', KEYS[3], now + lease_ms, id)
  redis.call('PEXPIRE', KEYS[3], lease_ms)
end
for i, base in ipairs({8, 12}) do
  if tonumber(ARGV[base]) > 0 then
    redis.call('INCRBY', KEYS[3 + i], ARGV[base + 2])
    redis.call('EXPIRE', KEYS[3 + i], ARGV[base + 3])
  end
end
return {0, 0, req_used, req_reset, tok_used, tok_reset, 0}
"""

# KEYS: token slots, leases, day spend, month spend.
# ARGV: now, lease id, charged slot, charged tokens, used tokens, release, day delta,
#       month delta, window, slot.
SETTLE = """
local now, id = tonumber(ARGV[1]), ARGV[2]
local charged_slot, charged, used = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local W, S = tonumber(ARGV[9]), tonumber(ARGV[10])
if charged > 0 then
  local held = tonumber(redis.call('HGET', KEYS[1], charged_slot) or '0')
  if held > 0 then redis.call('HINCRBY', KEYS[1], charged_slot, -math.min(held, charged)) end
end
if used > 0 then
  redis.call('HINCRBY', KEYS[1], math.floor(now / S), used)
  redis.call('PEXPIRE', KEYS[1], W + S)
end
if ARGV[6] == '1' then redis.call('ZREM', KEYS[2], id) end
for i, arg in ipairs({7, 8}) do
  local delta = tonumber(ARGV[arg])
  if delta ~= 0 and redis.call('EXISTS', KEYS[2 + i]) == 1 then
    redis.call('INCRBY', KEYS[2 + i], delta)
  end
end
return 1
"""


def _keys(key: str, day: str, month: str) -> list[str]:
    base = f"{PREFIX}{{{key}}}:"
    return [base + "req", base + "tok", base + "conc", base + f"d:{day}", base + f"m:{month}"]


class RedisCounters:
    """Counters every replica shares; falls back to this replica's own while unreachable."""

    shared = True

    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
        )
        self._admit = self._redis.register_script(ADMIT)
        self._settle = self._redis.register_script(SETTLE)
        self.fallback = MemoryCounters()
        self._down_until = 0.0
        self._fallback_leases: set[str] = set()  # admitted by the fallback: settled there
        self.failures = 0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, what: str, exc: Exception) -> None:
        if self.available:
            log.warning("limits_store_unavailable", action=what, error=type(exc).__name__)
        self.failures += 1
        self._down_until = time.monotonic() + RETRY_AFTER_FAILURE_S

    async def admit(self, ask: Ask) -> Verdict:
        if self.available:
            try:
                return await self._admit_shared(ask)
            except (RedisError, OSError) as exc:
                self._failed("admit", exc)
        verdict = self.fallback.admit_now(ask)
        if verdict.refused is None:
            self._fallback_leases.add(ask.lease)
        return verdict

    async def _admit_shared(self, ask: Ask) -> Verdict:
        day = ask.day.period if ask.day else ""
        month = ask.month.period if ask.month else ""
        args: list[object] = [ask.now_ms, ask.lease, ask.rpm, ask.tpm, ask.tokens]
        args += [ask.concurrency, LEASE_MS]
        for budget in (ask.day, ask.month):
            if budget is None:
                args += [0, 0, 0, 0]
            else:
                args += [budget.limit, budget.floor, budget.reserve, budget.ttl_s]
        args += [WINDOW_MS, SLOT_MS, CONCURRENCY_RETRY_MS]
        raw = await self._admit(keys=_keys(ask.key, day, month), args=args)
        refusal, retry, req_used, req_reset, tok_used, tok_reset, spent = (int(v) for v in raw)
        return Verdict(REFUSALS[refusal], retry, req_used, req_reset, tok_used, tok_reset, spent)

    async def settle(self, settlement: Settlement) -> None:
        if settlement.lease in self._fallback_leases:
            self._fallback_leases.discard(settlement.lease)
            self.fallback.settle_now(settlement)
            return
        day, day_delta = settlement.day or ("", 0)
        month, month_delta = settlement.month or ("", 0)
        keys = _keys(settlement.key, day, month)[1:]
        args: list[object] = [settlement.now_ms, settlement.lease, settlement.charged_slot]
        args += [settlement.charged_tokens, settlement.used_tokens, int(settlement.release)]
        args += [day_delta, month_delta, WINDOW_MS, SLOT_MS]
        try:
            await self._settle(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            # The estimate stays charged and the lease expires on its own: safe, if strict.
            self._failed("settle", exc)

    async def charge(self, key: str, lease: str, now_ms: int, tokens: int) -> None:
        if lease in self._fallback_leases or not self.available:
            self.fallback.charge_now(key, now_ms, tokens)
            return
        name = f"{PREFIX}{{{key}}}:tok"
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(name, str(now_ms // SLOT_MS), tokens)
                pipe.pexpire(name, WINDOW_MS + SLOT_MS)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed("charge", exc)

    async def renew(self, leases: list[tuple[str, str]], now_ms: int) -> None:
        shared = [(key, lease) for key, lease in leases if lease not in self._fallback_leases]
        if not shared or not self.available:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, lease in shared:
                    name = f"{PREFIX}{{{key}}}:conc"
                    pipe.zadd(name, {lease: now_ms + LEASE_MS}, xx=True)
                    pipe.pexpire(name, LEASE_MS)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed("renew", exc)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()
