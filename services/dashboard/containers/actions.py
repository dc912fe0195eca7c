"""Start, stop and restart a container of the stack, on the allowlist only; every attempt is
audited, refused ones too."""

from __future__ import annotations

from typing import Any

import structlog

from services.core.db import Pool
from services.core.errors import Forbidden, ValidationFailed
from services.dashboard.accounts import audit
from services.dashboard.accounts.audit import Actor
from services.dashboard.containers import policy, stack
from services.dashboard.containers.engine import DockerLink

log = structlog.get_logger(__name__)
STOP_TIMEOUT_S = 20


def check_action(value: object) -> str:
    if value not in policy.ACTIONS:
        raise ValidationFailed(
            "action must be start, stop or restart",
            details=[{"field": "action", "message": "invalid"}],
        )
    return str(value)


async def act(pool: Pool, link: DockerLink, actor: Actor, name: str, action: str) -> str:
    """Do `action` to the stack's container `name`; returns its service. Forbidden (audited)
    when the allowlist refuses."""

    def find(client: Any) -> tuple[str, bool]:
        container = stack.find(client, link.project, name)
        return stack.service_of(container), container.status == "running"

    service, running = await link.run(find)
    reason = policy.refusal(service, action, running)
    if reason is not None:
        async with pool.connection() as conn:
            await audit.record(
                conn, actor, "CONTAINER_ACTION_REFUSED", "container", name,
                requested=action, service=service, reason=reason,
            )  # fmt: skip
        raise Forbidden(f"{action} refused: {reason}", code="action_not_allowed")
    await link.run(lambda client: _do(client, link.project, name, action))
    async with pool.connection() as conn:
        await audit.record(
            conn, actor, f"CONTAINER_{action.upper()}", "container", name, service=service
        )
    return service


def _do(client: Any, project: str, name: str, action: str) -> None:
    container = stack.find(client, project, name)
    if action == "start":
        container.start()
    elif action == "stop":
        container.stop(timeout=STOP_TIMEOUT_S)
    else:
        container.restart(timeout=STOP_TIMEOUT_S)
    log.info("container_action", container=name, action=action)
