"""Admin settings stored in Postgres (today: `max_provider_keys_per_user`)."""

from __future__ import annotations

from typing import Any

from services.core.db import Connection, Pool
from services.core.errors import ValidationFailed
from services.dashboard import audit
from services.dashboard.audit import Actor
from services.dashboard.queries import system_settings

DEFAULTS: dict[str, int] = {"max_provider_keys_per_user": 10}
_BOUNDS = {"max_provider_keys_per_user": (0, 1000)}


async def max_provider_keys(conn: Connection) -> int:
    value = await system_settings.get(conn, "max_provider_keys_per_user")
    return int(value) if isinstance(value, int) else DEFAULTS["max_provider_keys_per_user"]


async def read_all(pool: Pool) -> dict[str, Any]:
    async with pool.connection() as conn:
        stored = await system_settings.get_many(conn, list(DEFAULTS))
    return {key: stored.get(key, default) for key, default in DEFAULTS.items()}


def check(key: object, value: object) -> tuple[str, int]:
    if not isinstance(key, str) or key not in DEFAULTS:
        raise ValidationFailed(
            f"unknown setting; allowed: {', '.join(DEFAULTS)}",
            details=[{"field": "key", "message": "unknown setting"}],
        )
    low, high = _BOUNDS[key]
    try:
        number = int(str(value))
    except ValueError:
        number = low - 1
    if isinstance(value, bool) or not low <= number <= high:
        raise ValidationFailed(
            f"{key} must be a whole number from {low} to {high}",
            details=[{"field": "value", "message": "out of range"}],
        )
    return key, number


async def write(pool: Pool, actor: Actor, key: str, value: int) -> None:
    async with pool.connection() as conn, conn.transaction():
        await system_settings.put(conn, key, value, actor.id)
        await audit.record(conn, actor, "SETTINGS_CHANGED", "setting", key, value=value)
