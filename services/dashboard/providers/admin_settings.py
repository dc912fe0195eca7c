"""Admin settings stored in Postgres: the provider-key limit per user, and whether users may
point upstreams (custom providers, provider keys' base URL, proxy URLs) at private addresses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from services.core.db import Connection, Pool
from services.core.errors import ValidationFailed
from services.dashboard.accounts import audit
from services.dashboard.accounts.audit import Actor
from services.dashboard.providers.ssrf import UpstreamPolicy
from services.dashboard.web import deps
from services.dashboard.web.queries import system_settings

MAX_PROVIDER_KEYS = "max_provider_keys_per_user"
ALLOW_PRIVATE = "allow_private_upstreams"
QUOTA_LOW_PERCENT = "quota_low_percent"
Value = int | bool


@dataclass(frozen=True, slots=True)
class Spec:
    default: Value
    low: int = 0
    high: int = 0

    def parse(self, key: str, raw: object) -> Value:
        """The stored value for `raw`, or ValidationFailed naming the rule."""
        if isinstance(self.default, bool):
            return _boolean(key, raw)
        return _whole(key, raw, self.low, self.high)


SPECS: dict[str, Spec] = {
    MAX_PROVIDER_KEYS: Spec(10, 0, 1000),
    # Off by default: a user's upstream URL may then name only public addresses (docs/security.md).
    ALLOW_PRIVATE: Spec(False),
    # An OAuth account's owner is told when a provider window is used at least this much.
    QUOTA_LOW_PERCENT: Spec(90, 1, 100),
}
_TRUE, _FALSE = {"true", "on", "1", "yes"}, {"false", "off", "0", "no", ""}


def _whole(key: str, value: object, low: int, high: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        number = low - 1
    if isinstance(value, bool) or not low <= number <= high:
        raise ValidationFailed(
            f"{key} must be a whole number from {low} to {high}",
            details=[{"field": "value", "message": "out of range"}],
        )
    return number


def _boolean(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str | int) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationFailed(
        f"{key} must be true or false", details=[{"field": "value", "message": "not a boolean"}]
    )


async def _read(conn: Connection, key: str) -> Value:
    value = await system_settings.get(conn, key)
    default = SPECS[key].default
    return value if type(value) is type(default) else default


async def max_provider_keys(conn: Connection) -> int:
    return int(await _read(conn, MAX_PROVIDER_KEYS))


async def quota_low_percent(conn: Connection) -> int:
    return int(await _read(conn, QUOTA_LOW_PERCENT))


async def upstream_policy(conn: Connection, allowed: frozenset[str]) -> UpstreamPolicy:
    """The rules for upstream URLs users save: the admin setting plus FETCH_MODELS_ALLOW."""
    return UpstreamPolicy(bool(await _read(conn, ALLOW_PRIVATE)), allowed)


async def request_policy(request: Request) -> UpstreamPolicy:
    """What user-supplied upstream URLs may address (admin setting + FETCH_MODELS_ALLOW)."""
    async with deps.pool(request).connection() as conn:
        return await upstream_policy(conn, deps.settings(request).fetch_models_allowed)


async def read_all(pool: Pool) -> dict[str, Any]:
    async with pool.connection() as conn:
        return {key: await _read(conn, key) for key in SPECS}


def check(key: object, value: object) -> tuple[str, Value]:
    if not isinstance(key, str) or key not in SPECS:
        raise ValidationFailed(
            f"unknown setting; allowed: {', '.join(SPECS)}",
            details=[{"field": "key", "message": "unknown setting"}],
        )
    return key, SPECS[key].parse(key, value)


async def write(pool: Pool, actor: Actor, key: str, value: Value) -> None:
    async with pool.connection() as conn, conn.transaction():
        await system_settings.put(conn, key, value, actor.id)
        await audit.record(conn, actor, "SETTINGS_CHANGED", "setting", key, value=value)
