"""SQL on `model_pricing`: prices per 1M tokens per provider and model, with effective dates."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import class_row

from services.core.db import Connection
from services.core.errors import Conflict

_COLUMNS = sql.SQL(
    "id, provider, model, display_name, input_per_mtok, output_per_mtok,"
    " cached_input_per_mtok, cache_write_per_mtok, reasoning_per_mtok, currency, source,"
    " effective_from, is_active, created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class PriceFields:
    """What an admin sets; prices are USD per 1,000,000 tokens (None: see docs/usage.md)."""

    provider: str
    model: str
    display_name: str | None
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None
    cache_write_per_mtok: Decimal | None
    reasoning_per_mtok: Decimal | None
    effective_from: datetime


@dataclass(frozen=True, slots=True)
class Price:
    id: int
    provider: str
    model: str
    display_name: str | None
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None
    cache_write_per_mtok: Decimal | None
    reasoning_per_mtok: Decimal | None
    currency: str
    source: str
    effective_from: datetime
    is_active: bool
    created_at: datetime
    updated_at: datetime
    in_force: bool = False  # the row that prices new events of its model now


_LIST = sql.SQL(
    "SELECT {columns}, is_active AND effective_from = max(effective_from)"
    " FILTER (WHERE is_active AND effective_from <= now())"
    " OVER (PARTITION BY lower(provider), lower(model)) AS in_force"
    " FROM model_pricing"
).format(columns=_COLUMNS)


async def list_prices(conn: Connection, *, active_only: bool) -> list[Price]:
    """Every price row (or only active ones), by provider, model and newest date first."""
    where = sql.SQL("is_active" if active_only else "true")
    async with conn.cursor(row_factory=class_row(Price)) as cur:
        await cur.execute(
            sql.SQL(
                "SELECT * FROM ({list}) p WHERE {where}"
                " ORDER BY lower(provider), lower(model), effective_from DESC"
            ).format(list=_LIST, where=where)
        )
        return await cur.fetchall()


async def get(conn: Connection, price_id: int) -> Price | None:
    async with conn.cursor(row_factory=class_row(Price)) as cur:
        await cur.execute(
            sql.SQL("SELECT * FROM ({list}) p WHERE id = %s").format(list=_LIST), (price_id,)
        )
        return await cur.fetchone()


def _duplicate(fields: PriceFields) -> Conflict:
    return Conflict(
        f"{fields.provider}/{fields.model} already has a price from"
        f" {fields.effective_from.date().isoformat()}",
        code="price_exists",
    )


async def insert(conn: Connection, fields: PriceFields, actor_id: int) -> Price:
    """Add a price; a deleted (inactive) row with the same key comes back with these values."""
    params = {**asdict(fields), "actor": actor_id}
    async with conn.cursor(row_factory=class_row(Price)) as cur:
        await cur.execute(
            sql.SQL(
                "INSERT INTO model_pricing AS p (provider, model, display_name, input_per_mtok,"
                " output_per_mtok, cached_input_per_mtok, cache_write_per_mtok, reasoning_per_mtok,"
                " effective_from, source, updated_by)"
                " VALUES (%(provider)s, %(model)s, %(display_name)s, %(input_per_mtok)s,"
                " %(output_per_mtok)s, %(cached_input_per_mtok)s, %(cache_write_per_mtok)s,"
                " %(reasoning_per_mtok)s, %(effective_from)s, 'manual', %(actor)s)"
                " ON CONFLICT (lower(provider), lower(model), effective_from) DO UPDATE SET"
                " provider = EXCLUDED.provider, model = EXCLUDED.model,"
                " display_name = EXCLUDED.display_name, input_per_mtok = EXCLUDED.input_per_mtok,"
                " output_per_mtok = EXCLUDED.output_per_mtok,"
                " cached_input_per_mtok = EXCLUDED.cached_input_per_mtok,"
                " cache_write_per_mtok = EXCLUDED.cache_write_per_mtok,"
                " reasoning_per_mtok = EXCLUDED.reasoning_per_mtok, source = 'manual',"
                " is_active = true, updated_at = now(), updated_by = EXCLUDED.updated_by"
                " WHERE NOT p.is_active RETURNING {columns}"
            ).format(columns=_COLUMNS),
            params,
        )
        row = await cur.fetchone()
    if row is None:
        raise _duplicate(fields)
    return row


async def update(
    conn: Connection, price_id: int, fields: PriceFields, actor_id: int
) -> Price | None:
    """Replace an active row's values; None when it does not exist or was deleted."""
    params = {**asdict(fields), "id": price_id, "actor": actor_id}
    try:
        async with conn.cursor(row_factory=class_row(Price)) as cur:
            await cur.execute(
                sql.SQL(
                    "UPDATE model_pricing SET provider = %(provider)s, model = %(model)s,"
                    " display_name = %(display_name)s, input_per_mtok = %(input_per_mtok)s,"
                    " output_per_mtok = %(output_per_mtok)s,"
                    " cached_input_per_mtok = %(cached_input_per_mtok)s,"
                    " cache_write_per_mtok = %(cache_write_per_mtok)s,"
                    " reasoning_per_mtok = %(reasoning_per_mtok)s,"
                    " effective_from = %(effective_from)s, source = 'manual', updated_at = now(),"
                    " updated_by = %(actor)s WHERE id = %(id)s AND is_active"
                    " RETURNING {columns}"
                ).format(columns=_COLUMNS),
                params,
            )
            return await cur.fetchone()
    except pg_errors.UniqueViolation as exc:
        raise _duplicate(fields) from exc


async def deactivate(conn: Connection, price_id: int, actor_id: int) -> Price | None:
    """Soft delete (the seed's behaviour): the row stays for the record but prices nothing."""
    async with conn.cursor(row_factory=class_row(Price)) as cur:
        await cur.execute(
            sql.SQL(
                "UPDATE model_pricing SET is_active = false, updated_at = now(), updated_by = %s"
                " WHERE id = %s AND is_active RETURNING {columns}"
            ).format(columns=_COLUMNS),
            (actor_id, price_id),
        )
        return await cur.fetchone()
