"""The per-request cost of a client key's limits on the proxy's hot path.

Runs what `http/key_limits.py` does for one request (policy lookup, model rule, admission,
the attempt's tokens and cost, settlement) on a call whose key has every limit (RPM, TPM,
concurrency, allowed models, daily and monthly budgets with a price list), against:

1. the in-process store: microseconds per request (aim: under 30 us), next to a key without
   limits (one lookup);
2. a real redis-server (Debian's, started here on a free port, when installed): the admission
   is one round trip, compared with one PING on the same connection; the settlement is sent
   after the response and timed apart.

    python -m bench.limits_overhead [--requests 20000] [--redis-requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import redis.asyncio as aioredis
from aiohttp.test_utils import make_mocked_request

from services.core.pricing import Price, PriceBook
from services.proxy.__main__ import tune_gc
from services.proxy.config.loader import validate_text
from services.proxy.limits.counters import Counters, MemoryCounters
from services.proxy.limits.limiter import Lease, Limiter
from services.proxy.limits.redis_counters import RedisCounters
from services.proxy.limits.spend import Publication, SpendBook
from services.proxy.routing.codec_contract import Call
from services.proxy.routing.runtime import Runtime, build_runtime
from services.proxy.translate.usage import Usage
from tests.conftest import free_port

LIMITED = "sk-bench-limited-0123456789"
FREE = "sk-bench-free-0123456789"
LIMITS = {
    "requests-per-minute": 10_000_000,
    "tokens-per-minute": 10_000_000_000,
    "concurrent-requests": 1_000_000,
    "allowed-models": ["claude-sonnet-*", "gpt-5*"],
    "daily-budget-usd": 1_000_000,
    "monthly-budget-usd": 10_000_000,
}
BODY = {
    "model": "claude-sonnet-4-5-20250929",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "Summarise the attached design notes. " * 20}],
}


def _runtime() -> Runtime:
    config = {
        "api-keys": [LIMITED, FREE],
        "api-key-limits": {LIMITED: LIMITS},
        "claude-api-key": [{"api-key": f"up-{i}"} for i in range(4)],
    }
    return build_runtime(validate_text(orjson.dumps(config).decode()))


def _call(runtime: Runtime, api_key_id: str) -> Call:
    raw = orjson.dumps(BODY)
    request = make_mocked_request("POST", "/v1/messages")
    return Call(
        request=request,
        runtime=runtime,
        client_fmt="anthropic",
        endpoint="POST /v1/messages",
        model=str(BODY["model"]),
        body=dict(BODY),
        stream=True,
        api_key_id=api_key_id,
        request_id="bench",
        extra={"raw": raw},
    )


def _limiter(counters: Counters) -> Limiter:
    spend = SpendBook()
    prices = PriceBook([Price("claude", "claude-sonnet-4-5", 3.0, 15.0, 0.3, 3.75)])
    spend.publish(Publication("now", "", "", {}, prices))
    return Limiter(counters, spend)


def _key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


async def one_request(limiter: Limiter, call: Call) -> None:
    """What the request path adds for a call: the same steps as http/key_limits.run_call."""
    policy = limiter.policy(call)
    if policy is None:
        return
    tiers = limiter.check_model(call, policy)
    if tiers is None or not policy.counted:
        return
    lease = await limiter.admit(call, policy, tiers)
    target = tiers[0][0]
    lease.attempted(target, Usage(input_tokens=180, output_tokens=420))
    lease.close()


async def _per_request_us(limiter: Limiter, call: Call, count: int) -> float:
    for _ in range(200):  # warm the caches (policy table, model rule, price lookups)
        await one_request(limiter, call)
    started = time.process_time()  # CPU time: other jobs on a shared machine do not count
    for _ in range(count):
        await one_request(limiter, call)
    await limiter.drain()
    return (time.process_time() - started) / count * 1e6


async def in_process(count: int) -> None:
    runtime = _runtime()
    limiter = _limiter(MemoryCounters())
    limited, free = _call(runtime, _key_id(LIMITED)), _call(runtime, _key_id(FREE))
    rounds = [
        (
            await _per_request_us(limiter, limited, count),
            await _per_request_us(limiter, free, count),
        )
        for _ in range(5)
    ]
    with_limits = statistics.median(r[0] for r in rounds)
    without = statistics.median(r[1] for r in rounds)
    started = time.process_time()
    for _ in range(20_000):
        sum(range(100))
    calibration = (time.process_time() - started) / 20_000 * 1e6
    print(f"calibration: sum(range(100)) takes {calibration:.2f} us of CPU here (~0.8 us on an")
    print("  idle core of this machine: divide by the ratio to compare runs on a loaded host)")
    factor = calibration / 0.8
    print(f"in-process store, every limit:     {with_limits:7.1f} us/request of CPU")
    print(
        f"  scaled to an idle core:          {with_limits / factor:7.1f} us/request (aim < 30 us)"
    )
    print(f"key without limits (one lookup):   {without:7.2f} us/request")


def _start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(folder)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port


async def _wait_redis(port: int) -> None:
    client = aioredis.Redis(port=port)
    for _ in range(200):
        try:
            await client.ping()
            await client.aclose()
            return
        except OSError:
            await asyncio.sleep(0.02)  # a server we just started: poll until it answers
        except aioredis.ConnectionError:
            await asyncio.sleep(0.02)
    raise TimeoutError("redis-server did not answer")


async def shared(count: int) -> None:
    if shutil.which("redis-server") is None:
        print("redis-server not installed: shared-store figures skipped")
        return
    with tempfile.TemporaryDirectory() as folder:
        proc, port = _start_redis(Path(folder))
        try:
            await _wait_redis(port)
            await _shared_figures(port, count)
        finally:
            proc.terminate()
            proc.wait()


async def _timed_us(work: Callable[[], Awaitable[object]], count: int) -> float:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


async def _shared_figures(port: int, count: int) -> None:
    url = f"redis://127.0.0.1:{port}/0"
    counters = RedisCounters(url)
    limiter = _limiter(counters)
    call = _call(_runtime(), _key_id(LIMITED))
    policy = limiter.policy(call)
    assert policy is not None
    tiers = limiter.check_model(call, policy)
    ping = aioredis.Redis.from_url(url)
    leases: list[Lease] = []

    async def admit() -> None:
        leases.append(await limiter.admit(call, policy, tiers))

    async def settle() -> None:
        leases.pop().close()
        await limiter.drain()

    await _timed_us(ping.ping, 200)  # connect and load the scripts first
    await _timed_us(admit, 200)
    await _timed_us(settle, 200)
    ping_us = await _timed_us(ping.ping, count)
    admit_us = await _timed_us(admit, count)
    settle_us = await _timed_us(settle, count)
    whole_us = await _timed_us(lambda: one_request(limiter, call), count)
    await limiter.drain()
    print(f"redis PING round trip:             {ping_us:7.1f} us (median)")
    print(
        f"shared store, admission (1 EVALSHA): {admit_us:5.1f} us = {admit_us / ping_us:.2f} x PING"
    )
    print(f"shared store, settlement (after the response): {settle_us:.1f} us")
    print(f"shared store, whole request path:  {whole_us:7.1f} us (admission + in-process work)")
    stats = await ping.info("commandstats")
    for name in ("cmdstat_ping", "cmdstat_evalsha"):
        usec = stats.get(name, {}).get("usec_per_call", 0.0)
        print(f"  server CPU per call, {name[8:]:8s}     {usec:7.1f} us (INFO commandstats)")
    await ping.aclose()
    await counters.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--redis-requests", type=int, default=3_000)
    args = parser.parse_args()
    tune_gc()  # as the proxy process runs
    asyncio.run(in_process(args.requests))
    asyncio.run(shared(args.redis_requests))


if __name__ == "__main__":
    main()
