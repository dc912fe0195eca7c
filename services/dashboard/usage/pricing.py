"""Model pricing administration (FEATURES D12): validated, audited changes to model_pricing.

Cost is computed by the collector when it stores an event, from the price in force at the
event's timestamp, so a change applies to events collected afterwards; events already stored
keep the cost they were stored with (docs/usage.md).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.core.db import Pool
from services.core.errors import NotFound, ValidationFailed
from services.dashboard.accounts import audit
from services.dashboard.accounts.audit import Actor
from services.dashboard.usage.queries import model_pricing as pricing_q
from services.dashboard.usage.queries.model_pricing import Price, PriceFields
from services.dashboard.web.inputs import parse

ALWAYS = datetime(1970, 1, 1, tzinfo=UTC)  # "effective for every event"
MAX_PRICE = Decimal("1000000")
_PROVIDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}")
_MODEL = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


def _price(value: Any, *, optional: bool) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if optional:
            return None
        raise ValueError("a price is required")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError("not a number") from exc
    if not amount.is_finite() or amount < 0 or amount > MAX_PRICE:
        raise ValueError(f"must be between 0 and {MAX_PRICE}")
    if amount != amount.quantize(Decimal("0.000001")):
        raise ValueError("at most 6 decimal places")
    return amount


class PriceIn(BaseModel):
    """The JSON body (or form) of a price; camelCase like the rest of the API."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_max_length=1000)

    provider: str
    model: str
    displayName: str | None = Field(default=None, max_length=100)
    inputPerMTok: Any = None
    outputPerMTok: Any = None
    cachedInputPerMTok: Any = None
    cacheWritePerMTok: Any = None
    reasoningPerMTok: Any = None
    effectiveFrom: str | None = None

    @field_validator("provider")
    @classmethod
    def _provider(cls, value: str) -> str:
        value = value.strip().lower()
        if not _PROVIDER.fullmatch(value):
            raise ValueError("use letters, digits and . _ : / - (at most 100)")
        return value

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        value = value.strip()
        if not _MODEL.fullmatch(value):
            raise ValueError("1-200 printable characters")
        return value

    @field_validator("inputPerMTok", "outputPerMTok")
    @classmethod
    def _required_price(cls, value: Any) -> Decimal | None:
        return _price(value, optional=False)

    @field_validator("cachedInputPerMTok", "cacheWritePerMTok", "reasoningPerMTok")
    @classmethod
    def _optional_price(cls, value: Any) -> Decimal | None:
        return _price(value, optional=True)


def _effective(raw: str | None) -> datetime:
    """A date (UTC midnight) or an ISO date-time; empty means 'for every event'."""
    if raw is None or not raw.strip():
        return ALWAYS
    text = raw.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(
            "effectiveFrom: use YYYY-MM-DD or an ISO 8601 date-time",
            details=[{"field": "effectiveFrom", "message": "invalid date"}],
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check(data: dict[str, Any]) -> PriceFields:
    """Validate a request body into the fields of a price row (400 with details otherwise)."""
    body = parse(PriceIn, data)
    assert isinstance(body.inputPerMTok, Decimal) and isinstance(body.outputPerMTok, Decimal)
    return PriceFields(
        provider=body.provider,
        model=body.model,
        display_name=(body.displayName or "").strip() or None,
        input_per_mtok=body.inputPerMTok,
        output_per_mtok=body.outputPerMTok,
        cached_input_per_mtok=body.cachedInputPerMTok,
        cache_write_per_mtok=body.cacheWritePerMTok,
        reasoning_per_mtok=body.reasoningPerMTok,
        effective_from=_effective(body.effectiveFrom),
    )


def _target(fields: PriceFields | Price) -> str:
    return f"{fields.provider}/{fields.model}@{fields.effective_from.date().isoformat()}"


def _metadata(fields: PriceFields | Price) -> dict[str, str | None]:
    def text(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    return {
        "input": text(fields.input_per_mtok),
        "output": text(fields.output_per_mtok),
        "cachedInput": text(fields.cached_input_per_mtok),
        "cacheWrite": text(fields.cache_write_per_mtok),
        "reasoning": text(fields.reasoning_per_mtok),
    }


async def list_prices(pool: Pool, *, active_only: bool) -> list[Price]:
    async with pool.connection() as conn:
        return await pricing_q.list_prices(conn, active_only=active_only)


async def get_price(pool: Pool, price_id: int) -> Price:
    async with pool.connection() as conn:
        price = await pricing_q.get(conn, price_id)
    if price is None:
        raise NotFound("no such price")
    return price


async def create(pool: Pool, actor: Actor, fields: PriceFields) -> Price:
    async with pool.connection() as conn, conn.transaction():
        price = await pricing_q.insert(conn, fields, actor.id)
        await audit.record(conn, actor, "MODEL_PRICE_CREATED", "model_price", _target(price),
                           **_metadata(price))  # fmt: skip
    return price


async def update(pool: Pool, actor: Actor, price_id: int, fields: PriceFields) -> Price:
    async with pool.connection() as conn, conn.transaction():
        price = await pricing_q.update(conn, price_id, fields, actor.id)
        if price is None:
            raise NotFound("no such price")
        await audit.record(conn, actor, "MODEL_PRICE_UPDATED", "model_price", _target(price),
                           **_metadata(price))  # fmt: skip
    return price


async def delete(pool: Pool, actor: Actor, price_id: int) -> Price:
    async with pool.connection() as conn, conn.transaction():
        price = await pricing_q.deactivate(conn, price_id, actor.id)
        if price is None:
            raise NotFound("no such price")
        await audit.record(conn, actor, "MODEL_PRICE_DELETED", "model_price", _target(price))
    return price
