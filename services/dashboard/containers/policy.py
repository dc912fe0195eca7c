"""What the dashboard may do to each service of its stack (the seed's allowlist): the proxy
and the collector may be started, stopped and restarted; everything else (Postgres, the
dashboard itself, the socket proxy, the one-shot migration) is view-only."""

from __future__ import annotations

ACTIONS = ("start", "stop", "restart")
CONTROLLABLE = frozenset({"proxy", "collector"})
# The services an update recreates with a new gateway image, in this order; `migrate` runs
# first with the new image (its one-shot run applies the new schema).
UPDATABLE = ("proxy", "collector")
MIGRATION_SERVICE = "migrate"


def refusal(service: str, action: str, running: bool) -> str | None:
    """Why `action` may not be done to the service's container now, or None when it may."""
    if action not in ACTIONS:
        return f"unknown action {action!r}"
    if service not in CONTROLLABLE:
        return f"the {service or 'unlabelled'} container is view-only"
    if action == "start" and running:
        return "the container is already running"
    if action in ("stop", "restart") and not running:
        return "the container is not running"
    return None


def available(service: str, running: bool) -> list[str]:
    return [a for a in ACTIONS if refusal(service, a, running) is None]
