"""Who did what: the actor of a request and the audit entries written for security actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from services.core.db import Connection
from services.dashboard.accounts.queries import audit_log
from services.dashboard.accounts.queries.users import User

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Actor:
    """The signed-in user behind a request (None before login) and where the request came from."""

    user: User | None
    ip: str | None
    user_agent: str | None

    @property
    def id(self) -> int:
        assert self.user is not None
        return self.user.id

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.is_admin


async def record(
    conn: Connection,
    actor: Actor,
    action: str,
    target_type: str | None = None,
    target: str | None = None,
    *,
    username: str | None = None,
    **metadata: Any,
) -> None:
    """Write one audit entry; `username` names the actor when there is no session (logins)."""
    user = actor.user
    await audit_log.insert(
        conn,
        audit_log.NewAuditEntry(
            action=action,
            actor_user_id=user.id if user else None,
            actor_username=user.username if user else username,
            target_type=target_type,
            target=target,
            metadata=metadata,
            ip_address=actor.ip,
            user_agent=actor.user_agent,
        ),
    )
    log.info("audit", action=action, target_type=target_type, target=target)
