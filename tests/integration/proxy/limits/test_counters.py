"""The counters' rules, driven by a hand clock, in both stores: in this process and in a real
redis-server (the Lua scripts must give the same verdicts as the Python rules)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.proxy.limits.counters import (
    CONCURRENCY,
    DAY,
    REQUESTS,
    TOKENS,
    Ask,
    Budget,
    Counters,
    MemoryCounters,
    Settlement,
    slot_of,
)
from services.proxy.limits.redis_counters import RedisCounters

T0 = 1_800_000_000_000  # ms, on a slot boundary


@pytest.fixture(params=["memory", "redis"])
async def counters(request, tmp_path) -> AsyncIterator[Counters]:
    if request.param == "memory":
        yield MemoryCounters()
        return
    server = request.getfixturevalue("redis_server")
    store = RedisCounters(server.url)
    yield store
    await store.close()


def ask(n: int, now: int, **kw) -> Ask:
    return Ask(key="k1", lease=f"lease-{n}", now_ms=now, **kw)


async def test_requests_slide_over_sixty_seconds(counters):
    verdicts = [await counters.admit(ask(i, T0 + i * 1000, rpm=3)) for i in range(4)]
    assert [v.refused for v in verdicts] == [None, None, None, REQUESTS]
    assert verdicts[2].requests_used == 3
    assert verdicts[3].retry_ms == 60_000 - 3000  # the first leaves the window then
    later = await counters.admit(ask(9, T0 + 60_001, rpm=3))
    assert later.refused is None


async def test_tokens_estimate_is_replaced_by_what_was_used(counters):
    first = await counters.admit(ask(1, T0, tpm=1000, tokens=900))
    assert first.refused is None and first.tokens_used == 900
    refused = await counters.admit(ask(2, T0 + 10, tpm=1000, tokens=200))
    assert refused.refused == TOKENS and refused.retry_ms == 60_000 - 10
    used = Settlement("k1", "lease-1", T0 + 20, slot_of(T0), 900, 100, release=False)
    await counters.settle(used)
    assert (await counters.admit(ask(3, T0 + 30, tpm=1000, tokens=200))).refused is None


async def test_a_request_larger_than_the_limit_runs_alone(counters):
    assert (await counters.admit(ask(1, T0, tpm=100, tokens=500))).refused is None
    assert (await counters.admit(ask(2, T0 + 1, tpm=100, tokens=1))).refused == TOKENS


async def test_streamed_tokens_charged_now_fill_the_window(counters):
    assert (await counters.admit(ask(1, T0, tpm=1000, tokens=10))).refused is None
    await counters.charge("k1", "lease-1", T0 + 5, 2000)
    assert (await counters.admit(ask(2, T0 + 10, tpm=1000, tokens=10))).refused == TOKENS


async def test_concurrency_slots_are_released(counters):
    assert (await counters.admit(ask(1, T0, concurrency=1))).refused is None
    assert (await counters.admit(ask(2, T0 + 1, concurrency=1))).refused == CONCURRENCY
    await counters.settle(Settlement("k1", "lease-1", T0 + 2, 0, 0, 0, release=True))
    assert (await counters.admit(ask(3, T0 + 3, concurrency=1))).refused is None


async def test_budget_reservations_and_settlement(counters):
    def budget(floor: int = 0) -> Budget:
        return Budget("2027-01-15", limit=1000, floor=floor, reserve=600, ttl_s=3600)

    assert (await counters.admit(ask(1, T0, day=budget()))).refused is None
    assert (await counters.admit(ask(2, T0, day=budget()))).refused is None  # 600 < 1000
    third = await counters.admit(ask(3, T0, day=budget()))
    assert third.refused == DAY and third.spent == 1200
    # Both cost 100 in the end: 1200 - 2 * 500 = 200 spent, room again.
    for n in (1, 2):
        await counters.settle(
            Settlement("k1", f"lease-{n}", T0, 0, 0, 0, False, day=("2027-01-15", -500))
        )
    assert (await counters.admit(ask(4, T0, day=budget()))).refused is None
    # The collector's figure counts when it is higher.
    assert (await counters.admit(ask(5, T0, day=budget(floor=5000)))).refused == DAY
