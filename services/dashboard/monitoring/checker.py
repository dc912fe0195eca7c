"""The background checker: every half minute one dashboard replica (the one that gets the
advisory lock) measures what Monitoring shows and turns it into the bell's notifications.
Each condition has a dedupe key; raising an open one again is a no-op, and a condition that
ended is resolved. The registry check for updates runs every six hours.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from services.core.db import Connection, Pool
from services.core.errors import AppError
from services.dashboard.containers.engine import DockerLink
from services.dashboard.monitoring.probes import Rates, Snapshot, snapshot
from services.dashboard.notifications import bell
from services.dashboard.notifications.queries import notifications as store
from services.dashboard.oauth_accounts import proxy_files
from services.dashboard.providers import admin_settings
from services.dashboard.proxies.client import ManagementClient, ProxyUnavailable
from services.dashboard.quota import lookup
from services.dashboard.updates import check

log = structlog.get_logger(__name__)
LOCK_KEY = 7_402_317  # distinct from the migration and collector locks
UPDATE_CHECK_EVERY_S = 6 * 3600


@dataclass
class CheckerState:
    """What one replica remembers between rounds."""

    rates: Rates = field(default_factory=Rates)
    database_down_since: datetime | None = None
    # The first registry check a minute after start, then every six hours.
    last_update_check: float = field(
        default_factory=lambda: time.monotonic() - UPDATE_CHECK_EVERY_S + 60
    )


async def run_forever(
    pool: Pool, client: ManagementClient, docker: DockerLink, interval_s: float
) -> None:
    state = CheckerState()
    while True:
        await asyncio.sleep(interval_s)  # the first round after one interval: start-up is busy
        try:
            await check_round(pool, client, docker, state)
        except Exception:  # the loop must outlive a database or proxy outage
            log.exception("notification_check_failed")


async def check_round(
    pool: Pool, client: ManagementClient, docker: DockerLink, state: CheckerState
) -> bool:
    """One round; False when another replica holds the lock (or Postgres is down)."""
    seen = await snapshot(pool, client, state.rates)
    if not seen.database.up:
        state.database_down_since = state.database_down_since or seen.taken_at
        return False
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (LOCK_KEY,))
        row = await cur.fetchone()
        if not (row and row[0]):
            return False
        await _database_recovered(conn, state, seen)
        await _proxies(conn, seen)
        await _collector(conn, seen)
        await _quota(conn, pool, client)
        await _updates(conn, docker, state)
        await store.purge_old(conn)
    return True


async def _database_recovered(conn: Connection, state: CheckerState, seen: Snapshot) -> None:
    """Postgres cannot hold a notification while it is down: say so once it is back."""
    since = state.database_down_since
    if since is None:
        return
    state.database_down_since = None
    key = f"postgres-down:{since.isoformat()}"
    until = seen.taken_at.astimezone(UTC).strftime("%H:%M:%S")
    title = "Postgres was unreachable"
    body = f"From {since.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')} to {until} UTC."
    await bell.raise_condition(conn, key, title, body, audience="everyone", severity="critical")
    await bell.resolve(conn, key)


async def _sync(
    conn: Connection,
    prefix: str,
    wanted: dict[str, tuple[str, str]],
    *,
    audience: str,
    severity: str,
    link: str | None = None,
) -> None:
    """Open the conditions in `wanted` (key -> title, body), resolve the others of `prefix`."""
    for key, (title, body) in wanted.items():
        await bell.raise_condition(
            conn, key, title, body, audience=audience, severity=severity, link=link
        )
    for key in await store.open_keys(conn, prefix) - set(wanted):
        await bell.resolve(conn, key)


async def _proxies(conn: Connection, seen: Snapshot) -> None:
    down = {
        f"proxy-down:{p.label}": (f"{p.label} is down", p.error or f"{p.url} does not answer")
        for p in seen.proxies
        if not p.up
    }
    await _sync(conn, "proxy-down:", down, audience="everyone", severity="critical")
    alarms = {
        f"outbox:{p.label}": (
            f"Usage outbox {p.outbox_alarm} on {p.label}",
            f"{p.outbox_events} events wait; usage is "
            + ("being dropped" if p.outbox_alarm == "dropping" else "at the disk cap")
            + ". Check the collector.",
        )
        for p in seen.proxies
        if p.up and p.outbox_alarm
    }
    await _sync(
        conn,
        "outbox:",
        alarms,
        audience="admins",
        severity="critical",
        link="/dashboard/monitoring",
    )


async def _collector(conn: Connection, seen: Snapshot) -> None:
    why = seen.collector.lagging(seen.waiting_events) if seen.collector else None
    wanted = {"collector-lag": ("The usage collector is lagging", why)} if why else {}
    await _sync(
        conn, "collector-lag", wanted, audience="admins", severity="warning",
        link="/dashboard/monitoring",
    )  # fmt: skip


async def _quota(conn: Connection, pool: Pool, client: ManagementClient) -> None:
    """Tell each owner of an OAuth account that is cooling after quota answers (the proxies'
    auth-files listing) or whose provider window is used beyond the admin's threshold (the
    Quota page's cached lookup), and when it comes back."""
    cooling = await _cooling_accounts(client)
    low = await _low_accounts(conn, pool, client)
    reasons = {
        name: " ".join(filter(None, (cooling.get(name), low.get(name))))
        for name in {*cooling, *low}
    }
    cur = await conn.execute(
        "SELECT user_id, account_name FROM oauth_accounts WHERE account_name = ANY(%s)",
        (list(reasons),),
    )
    wanted = {
        bell.low_quota_key(user_id, name): (user_id, name, reasons[name])
        for user_id, name in await cur.fetchall()
    }
    for key, (user_id, name, message) in wanted.items():
        await bell.notify_user(
            conn, user_id, key, f"Low quota on {name}", message, link="/dashboard/quota"
        )
    for key in await store.open_keys(conn, "quota-low:") - set(wanted):
        await bell.resolve(conn, key)


async def _low_accounts(conn: Connection, pool: Pool, client: ManagementClient) -> dict[str, str]:
    """Owned, enabled account file name -> its windows at or over the threshold."""
    threshold = await admin_settings.quota_low_percent(conn)
    cur = await conn.execute("SELECT account_name FROM oauth_accounts")
    owned = {row[0] for row in await cur.fetchall()}
    try:
        files = await proxy_files.listing(client)
    except ProxyUnavailable:
        return {}
    out: dict[str, str] = {}
    for item in files:
        index, name = str(item.get("auth_index") or ""), str(item.get("name"))
        if name in owned and index and not item.get("disabled"):
            body, _error = await lookup.report(pool, client, index)
            if text := _over(body, threshold):
                out[name] = text
    return out


def _over(body: object, threshold: int) -> str:
    windows = body.get("windows") if isinstance(body, dict) else None
    parts = []
    for w in windows or []:
        used = w.get("used_percent") if isinstance(w, dict) else None
        if isinstance(used, int | float) and used >= threshold:
            back = (
                f", back {str(w.get('resets_at'))[:16].replace('T', ' ')} UTC"
                if w.get("resets_at")
                else ""
            )
            parts.append(f"{w.get('label') or w.get('id')} at {used:.0f}%{back}")
    return ("Provider quota: " + "; ".join(parts) + ".") if parts else ""


async def _cooling_accounts(client: ManagementClient) -> dict[str, str]:
    """Auth file name -> what the proxies say about its cooling models (any replica)."""
    out: dict[str, str] = {}
    for url in client.urls:
        try:
            body = await client.get_json(url, "/v0/management/auth-files")
        except ProxyUnavailable:
            continue  # a proxy down is its own notification
        for item in (body or {}).get("files") or []:
            if isinstance(item, dict) and "cooling" in str(item.get("status_message", "")):
                state = "all its models" if item.get("unavailable") else "some of its models"
                out[str(item.get("name"))] = (
                    f"The provider refused more requests: {state} are cooling down"
                    f" ({item.get('status_message')})."
                )
    return out


async def _updates(conn: Connection, docker: DockerLink, state: CheckerState) -> None:
    if not docker.configured or time.monotonic() - state.last_update_check < UPDATE_CHECK_EVERY_S:
        return
    state.last_update_check = time.monotonic()
    try:
        status = await docker.run(lambda c: check.image_status(c, docker.project))
    except AppError as exc:
        log.info("update_check_skipped", reason=exc.message)
        return
    wanted = {}
    if status.update_available and status.registry_digest:
        key = f"update-available:{status.registry_digest}"
        body = f"The registry's {status.image} differs from what the proxy runs."
        wanted[key] = ("A gateway update is available", body)
    await _sync(
        conn, "update-available:", wanted, audience="admins", severity="info",
        link="/dashboard/updates",
    )  # fmt: skip
