"""The proxy prices requests in flight (budgets) with the price list the collector publishes
and `services/core/pricing.py`; both must give the database's cost, lookup rules included."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.collector.spend import publication
from services.core.pricing import Price, PriceBook, cost_usd

USAGES = [
    (1000, 500, 0, 0, 0, 0),
    (20_000, 3000, 1200, 8000, 0, 0),  # reasoning inside output, cached prompt
    (50_000, 100, 0, 0, 30_000, 5000),  # cache reads and writes (Anthropic style)
    (10, 0, 0, 0, 0, 0),
]


async def _price(conn, provider, model, inp, out, **more) -> None:
    columns = ["provider", "model", "input_per_mtok", "output_per_mtok", *more]
    values = [provider, model, inp, out, *more.values()]
    marks = ", ".join(["%s"] * len(values))
    await conn.execute(
        f"INSERT INTO model_pricing ({', '.join(columns)}) VALUES ({marks})",
        values,
    )


async def _sql_cost(conn, provider: str, model: str, usage: tuple[int, ...]) -> Decimal | None:
    cur = await conn.execute(
        "SELECT usage_event_cost(%s, %s, %s, %s, %s, %s, %s, p.input_per_mtok,"
        " p.output_per_mtok, p.cached_input_per_mtok, p.cache_write_per_mtok,"
        " p.reasoning_per_mtok) FROM usage_price_for(%s, %s, now()) p",
        (provider, *usage, provider, model),
    )
    row = await cur.fetchone()
    return None if row is None else row[0]


def _python_cost(book: PriceBook, provider: str, model: str, usage: tuple[int, ...]):
    price = book.find(provider, model)
    if price is None:
        return None
    inp, out, reasoning, cached, read, write = usage
    return cost_usd(
        price,
        input_tokens=inp,
        output_tokens=out,
        reasoning_tokens=reasoning,
        cached_tokens=cached,
        cache_read_tokens=read,
        cache_creation_tokens=write,
    )


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("claude", "claude-sonnet-4-5-20250929"),
        ("claude", "claude-opus-4-5"),
        ("gemini", "gemini-2.5-flash"),
        ("codex", "gpt-5"),
        ("acme", "reasoner"),
        ("ACME", "Reasoner-20260101"),
        ("other", "reasoner"),  # one provider prices it: model-only match
        ("acme", "shared"),
        ("third", "shared"),  # two providers price it: no price
        ("acme", "unknown-model"),
    ],
)
async def test_python_prices_like_the_database(db_conn, provider, model) -> None:
    await _price(db_conn, "acme", "reasoner", 2, 8, reasoning_per_mtok=20)
    await _price(db_conn, "acme", "shared", 1, 1)
    await _price(db_conn, "zeta", "shared", 3, 3)
    published = await publication(db_conn, datetime.now(UTC))
    book = PriceBook(Price.from_json(p) for p in published["prices"])
    for usage in USAGES:
        expected = await _sql_cost(db_conn, provider, model, usage)
        got = _python_cost(book, provider, model, usage)
        if expected is None:
            assert got is None
        else:
            assert got == pytest.approx(float(expected), rel=1e-9, abs=1e-12)
