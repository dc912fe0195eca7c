"""Per-client-key limits in the dashboard (docs/limits.md): an admin sets them per key and as
defaults per role; a key's owner sees them; every active key's effective limits (its own, else
its owner's role default) are pushed to the proxies' `api-key-limits`, keyed like `api-keys`
(`sha256:<hex>`). Entries an operator wrote by hand for other keys stay."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.core.db import Connection, Pool
from services.core.errors import NotFound, ValidationFailed
from services.dashboard.accounts import audit
from services.dashboard.accounts.audit import Actor
from services.dashboard.accounts.queries.users import User
from services.dashboard.keys.queries import key_limits as queries
from services.dashboard.proxies.sync import ProxySync, config_lock
from services.dashboard.web.queries import system_settings

ROLES = ("user", "admin")
PUSHED = "sync.pushed_key_limits"  # the entries the last push wrote (removed when unwanted)


class Limits(BaseModel):
    """The proxy's `KeyLimits` fields; 0 or absent is no limit; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    requests_per_minute: int = Field(0, alias="requests-per-minute", ge=0, le=10**9)
    tokens_per_minute: int = Field(0, alias="tokens-per-minute", ge=0, le=10**12)
    concurrent_requests: int = Field(0, alias="concurrent-requests", ge=0, le=10**6)
    allowed_models: list[str] = Field(default_factory=list, alias="allowed-models", max_length=200)
    daily_budget_usd: float = Field(0.0, alias="daily-budget-usd", ge=0, le=10**9)
    monthly_budget_usd: float = Field(0.0, alias="monthly-budget-usd", ge=0, le=10**9)


def check_limits(value: Any, field: str = "limits") -> dict[str, Any]:
    """Validated limits in the proxy's names, without zero fields or blank patterns."""
    if value is None:
        return {}
    try:
        limits = Limits.model_validate(value)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join([field, *(str(p) for p in problem["loc"])])
        raise ValidationFailed(
            f"invalid {where}: {problem['msg']}",
            details=[{"field": where, "message": problem["msg"]}],
        ) from None
    patterns = [p.strip() for p in limits.allowed_models if p.strip()]
    out = limits.model_copy(update={"allowed_models": patterns})
    return out.model_dump(by_alias=True, exclude_defaults=True)


FIELDS = (
    "requests-per-minute",
    "tokens-per-minute",
    "concurrent-requests",
    "daily-budget-usd",
    "monthly-budget-usd",
)


def from_form(form: dict[str, Any]) -> dict[str, Any]:
    """Limits from the admin page's form: blank fields are no limit, models comma-separated."""
    data: dict[str, Any] = {}
    for field in FIELDS:
        text = str(form.get(field) or "").strip()
        if text:
            data[field] = text
    models = str(form.get("allowed-models") or "")
    data["allowed-models"] = [m for m in models.replace(",", " ").split() if m]
    return check_limits(data)


async def overview(pool: Pool) -> tuple[list[queries.LimitedKey], dict[str, dict[str, Any]]]:
    """Every active key with its own limits, and the role defaults (the admin's page)."""
    async with pool.connection() as conn:
        return await queries.all_active(conn), await queries.role_defaults(conn)


def describe(limits: dict[str, Any]) -> str:
    """One line for the keys page: what a key may do, or that nothing limits it."""
    parts = []
    for field, label in (
        ("requests-per-minute", "{:,} requests/min"),
        ("tokens-per-minute", "{:,} tokens/min"),
        ("concurrent-requests", "{:,} at once"),
        ("daily-budget-usd", "${:,.2f}/day"),
        ("monthly-budget-usd", "${:,.2f}/month"),
    ):
        if limits.get(field):
            parts.append(label.format(limits[field]))
    if limits.get("allowed-models"):
        parts.append("models: " + ", ".join(limits["allowed-models"]))
    return " · ".join(parts) or "no limits"


def effective(
    own: dict[str, Any], role: str, defaults: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """A key's limits on the proxy: its own when set, else its owner's role default."""
    return own or defaults.get(role, {})


def reconcile(
    current: Any, desired: dict[str, dict[str, Any]], managed: set[str]
) -> dict[str, Any]:
    """The proxies' map: operator entries kept, ours made equal to `desired`."""
    base = current if isinstance(current, dict) else {}
    kept = {k: v for k, v in base.items() if k not in managed or k in desired}
    return {**kept, **desired}


async def role_defaults(pool: Pool) -> dict[str, dict[str, Any]]:
    async with pool.connection() as conn:
        return await queries.role_defaults(conn)


async def in_force(pool: Pool, user: User) -> dict[int, dict[str, Any]]:
    """The limits in force on each of `user`'s active keys (what their owner sees)."""
    async with pool.connection() as conn:
        defaults = await queries.role_defaults(conn)
        own = await queries.limits_of_user(conn, user.id)
    return {key_id: effective(limits, user.role, defaults) for key_id, limits in own}


async def push_key_limits(sync: ProxySync, conn: Connection) -> None:
    defaults = await queries.role_defaults(conn)
    desired: dict[str, dict[str, Any]] = {}
    for sha256, own, role in await queries.active_limits(conn):
        limits = effective(own, role, defaults)
        if limits:
            desired[f"sha256:{sha256}"] = limits
    pushed = set(await system_settings.get(conn, PUSHED, []))
    await sync.client.update_everywhere(
        "api-key-limits", lambda cur: reconcile(cur, desired, pushed)
    )
    await system_settings.put(conn, PUSHED, sorted(desired))


async def set_for_key(
    pool: Pool, sync: ProxySync, actor: Actor, key_id: int, limits: dict[str, Any]
) -> None:
    """Set one key's own limits (`{}`: follow the role default) and push them."""
    async with config_lock(pool) as conn:
        if not await queries.set_key_limits(conn, key_id, limits):
            raise NotFound("API key not found")
        await push_key_limits(sync, conn)
        await audit.record(conn, actor, "API_KEY_LIMITS_SET", "api_key", str(key_id), limits=limits)


async def set_role_defaults(
    pool: Pool, sync: ProxySync, actor: Actor, defaults: dict[str, dict[str, Any]]
) -> None:
    async with config_lock(pool) as conn:
        await queries.set_role_defaults(conn, defaults, actor.id)
        await push_key_limits(sync, conn)
        await audit.record(conn, actor, "KEY_LIMIT_DEFAULTS_SET", "settings", "limits")


def check_role_defaults(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict) or set(value) - set(ROLES):
        raise ValidationFailed(
            "defaults must be an object keyed by role (user, admin)",
            details=[{"field": "defaults", "message": "keys must be user or admin"}],
        )
    checked = {role: check_limits(limits, f"defaults.{role}") for role, limits in value.items()}
    return {role: limits for role, limits in checked.items() if limits}
