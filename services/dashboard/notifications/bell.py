"""What features call to put something in the bell, and what the bell reads.

A condition is raised under a dedupe key and stays one notification however often (and from
however many dashboard replicas) it is raised again, until it is resolved; raising it after
that opens a new one, which users who dismissed the old one see again.
"""

from __future__ import annotations

from services.core.db import Connection
from services.dashboard.notifications.queries import notifications as store
from services.dashboard.notifications.queries.notifications import NewNotification, Notification

SEVERITIES = ("info", "warning", "critical")


async def raise_condition(
    conn: Connection,
    key: str,
    title: str,
    body: str = "",
    *,
    audience: str = "admins",
    severity: str = "warning",
    link: str | None = None,
) -> bool:
    """Open a notification for `audience` (everyone, admins) unless one is open under `key`."""
    assert audience in ("everyone", "admins") and severity in SEVERITIES
    return await store.open_(conn, NewNotification(key, audience, severity, title, body, link))


async def notify_user(
    conn: Connection,
    user_id: int,
    key: str,
    title: str,
    body: str = "",
    *,
    severity: str = "warning",
    link: str | None = None,
) -> bool:
    """Open a notification that only `user_id` sees; `key` should name the user and the thing
    (e.g. `quota-low:<user id>:<account>`). Returns False when it is already open."""
    assert severity in SEVERITIES
    item = NewNotification(key, "user", severity, title, body, link, user_id)
    return await store.open_(conn, item)


def low_quota_key(user_id: int, account: str) -> str:
    """The key of "low quota on one of your accounts" (the monitoring checker raises it)."""
    return f"quota-low:{user_id}:{account}"


async def resolve(conn: Connection, key: str) -> bool:
    """Close the open notification under `key` (it stays visible, marked resolved, for a day)."""
    return await store.resolve(conn, key)


async def for_user(conn: Connection, user_id: int, is_admin: bool) -> list[Notification]:
    return await store.visible(conn, user_id, is_admin)
