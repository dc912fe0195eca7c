"""Cost of an event (the seed's formula on our token convention), price lookup rules, and a
price change in the middle of a window going through the real collector."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from services.collector.worker import Collector
from tests.fakes.usage_source import FakeUsageSource
from tests.integration.collector.helpers import API_KEY, eventually, settings_for
from tests.integration.usage.asgi import dashboard, sign_in

M = Decimal(1_000_000)
# (case, tokens (input, output, reasoning, cached, cache_read, cache_creation),
#  prices (input, output, cached_input, cache_write, reasoning), expected USD)
COST_CASES = [
    ("input and output", (1000, 500, 0, 0, 0, 0), (3, 15, None, None, None),
     (1000 * 3 + 500 * 15) / M),
    ("cached input at its price", (1000, 100, 0, 400, 400, 0), (2, 8, "0.5", None, None),
     (600 * 2 + 400 * Decimal("0.5") + 100 * 8) / M),
    ("no cached price: input price", (1000, 100, 0, 400, 400, 0), (2, 8, None, None, None),
     (1000 * 2 + 100 * 8) / M),
    ("claude cache read and write", (10000, 500, 0, 6000, 6000, 2000),
     (3, 15, "0.30", "3.75", None),
     (2000 * 3 + 6000 * Decimal("0.30") + 2000 * Decimal("3.75") + 500 * 15) / M),
    ("no cache-write price: input price", (10000, 500, 0, 6000, 6000, 2000),
     (3, 15, "0.30", None, None),
     (4000 * 3 + 6000 * Decimal("0.30") + 500 * 15) / M),
    ("reasoning inside output, no reasoning price", (100, 1000, 400, 0, 0, 0),
     (1, 10, None, None, None), (100 + 1000 * 10) / M),
    ("reasoning at its own price", (100, 1000, 400, 0, 0, 0), (1, 10, None, None, 20),
     (100 + 600 * 10 + 400 * 20) / M),
    ("cache read reported without cached_tokens", (1000, 0, 0, 0, 300, 0),
     (2, 8, "0.2", None, None), (700 * 2 + 300 * Decimal("0.2")) / M),
    ("inconsistent counts never go negative", (100, 0, 0, 300, 300, 0),
     (2, 8, "0.5", None, None), (300 * Decimal("0.5")) / M),
    ("free model", (1000, 1000, 0, 0, 0, 0), (0, 0, None, None, None), Decimal(0)),
]  # fmt: skip


@pytest.mark.parametrize(("case", "tokens", "prices", "expected"), COST_CASES,
                         ids=[c[0] for c in COST_CASES])  # fmt: skip
def test_event_cost(usage_dsn, case, tokens, prices, expected) -> None:
    inp, out, reasoning, cached, read, creation = tokens
    prices = [None if p is None else str(p) for p in prices]
    with psycopg.connect(usage_dsn) as conn:
        (cost,) = conn.execute(
            "SELECT usage_event_cost('claude', %s, %s, %s, %s, %s, %s,"
            " %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric)",
            (inp, out, reasoning, cached, read, creation, *prices),
        ).fetchone()
    assert cost == pytest.approx(expected, abs=Decimal("1e-12")), case


def test_no_price_costs_nothing(usage_dsn) -> None:
    with psycopg.connect(usage_dsn) as conn:
        row = conn.execute(
            "SELECT usage_event_cost('x', 1, 1, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL)"
        ).fetchone()
    assert row == (None,)


async def _price(db_conn, provider, model, inp, out, *, since="1970-01-01Z", active=True):
    await db_conn.execute(
        "INSERT INTO model_pricing (provider, model, input_per_mtok, output_per_mtok,"
        " effective_from, is_active) VALUES (%s, %s, %s, %s, %s, %s)",
        (provider, model, inp, out, since, active),
    )


async def _lookup(db_conn, provider, model, at="2026-06-01Z"):
    cur = await db_conn.execute(
        "SELECT input_per_mtok FROM usage_price_for(%s, %s, %s)", (provider, model, at)
    )
    row = await cur.fetchone()
    return None if row is None else float(row[0])


async def test_price_lookup_rules(db_conn) -> None:
    """Exact provider first, then base name, then a model-only match when one provider has it."""
    await db_conn.execute("DELETE FROM model_pricing")
    await _price(db_conn, "acme", "m1", 1, 1)
    await _price(db_conn, "other", "m1", 2, 2)
    await _price(db_conn, "acme", "Solo-Model", 3, 3)
    await _price(db_conn, "acme", "m1", 4, 4, since="2026-03-01Z")
    await _price(db_conn, "acme", "m1", 5, 5, since="2026-09-01Z")
    await _price(db_conn, "acme", "gone", 6, 6, active=False)
    assert await _lookup(db_conn, "acme", "m1") == 4  # the row in force in June
    assert await _lookup(db_conn, "acme", "m1", "2026-01-01Z") == 1
    assert await _lookup(db_conn, "ACME", "M1", "2026-10-01Z") == 5  # case-insensitive
    assert await _lookup(db_conn, "other", "m1") == 2
    assert await _lookup(db_conn, "third", "m1") is None  # two providers price m1: ambiguous
    assert await _lookup(db_conn, "codex", "solo-model") == 3  # one provider: model-only match
    assert await _lookup(db_conn, "acme", "solo-model-20260115") == 3  # snapshot date dropped
    assert await _lookup(db_conn, "acme", "solo-model-2026-01-15") == 3
    assert await _lookup(db_conn, "acme", "gone") is None  # deleted prices price nothing


async def test_seed_prices_cover_current_models(db_conn) -> None:
    """The shipped list prices the current models of the three vendors, with dated changes."""
    current = [("claude", "claude-sonnet-5-5"), ("claude", "claude-opus-5-5"),
               ("gemini", "gemini-3.5-flash"), ("openai", "gpt-5.6-terra")]  # fmt: skip
    for provider, model in current:
        assert await _lookup(db_conn, provider, model, "2026-11-27Z"), model
    # Anthropic cut Sonnet 5.5 cache reads on 2026-10-07: both prices are kept.
    cur = await db_conn.execute(
        "SELECT cached_input_per_mtok FROM usage_price_for('claude', 'claude-sonnet-5-5', %s)",
        ("2026-10-06Z",),
    )
    assert (await cur.fetchone()) == (Decimal("0.200000"),)
    assert await _lookup(db_conn, "codex", "gpt-5.6-terra", "2026-08-01Z") == 2.0


@contextlib.asynccontextmanager
async def running_collector(database_url: str, url: str) -> AsyncIterator[Collector]:
    collector = Collector(settings_for(database_url, url))
    task = asyncio.create_task(collector.run())
    try:
        yield collector
    finally:
        collector.stop()
        await asyncio.wait_for(task, 10)


async def test_price_change_mid_window_through_the_collector(db_conn, database_url) -> None:
    """Events before the change keep the old price, later ones pay the new one; the rollups
    and the history API add them up exactly."""
    change = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    await _price(db_conn, "acme", "m1", 1, 2)
    await _price(db_conn, "acme", "m1", 10, 20, since=change)
    source = FakeUsageSource(instance_id="proxy-price", api_key=API_KEY)
    tokens = {"input_tokens": 1000, "output_tokens": 1000, "reasoning_tokens": 0,
              "cached_tokens": 0, "cache_read_tokens": 0, "cache_creation_tokens": 0,
              "total_tokens": 2000}  # fmt: skip
    common = {"provider": "acme", "model": "m1", "tokens": tokens, "failed": False}
    source.add_events(3, at=change - timedelta(minutes=30), **common)
    source.add_events(2, at=change + timedelta(minutes=30), **common)
    url = await source.start()
    try:
        async with running_collector(database_url, url):
            await eventually(lambda: source.pending == 0, what="events stored")
    finally:
        await source.stop()
    cur = await db_conn.execute("SELECT ts < %s, cost_usd FROM usage_events ORDER BY ts", (change,))
    rows = await cur.fetchall()
    assert rows == [(True, Decimal("0.003"))] * 3 + [(False, Decimal("0.03"))] * 2
    cur = await db_conn.execute("SELECT sum(cost_usd) FROM usage_hourly")
    assert (await cur.fetchone()) == (Decimal("0.069"),)
    async with dashboard(database_url) as client:
        headers = await sign_in(client, "admin", setup=True)
        data = (await client.get("/api/usage/history?window=7d", headers=headers)).json()["data"]
    assert data["totals"]["costUsd"] == pytest.approx(0.069)
    models = {r["id"]: r for r in data["breakdowns"]["model"]}
    assert models["m1"]["costUsd"] == pytest.approx(0.069)
