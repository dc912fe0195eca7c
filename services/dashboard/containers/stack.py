"""Which containers belong to the stack: those whose compose project label is the dashboard's
(COMPOSE_PROJECT). A container is named in routes by its name, and looked up only among them,
so no route can reach a container outside the stack."""

from __future__ import annotations

import re
from typing import Any

from services.core.errors import NotFound, ValidationFailed
from services.dashboard.containers.engine import PROJECT_LABEL, SERVICE_LABEL

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_name(value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValidationFailed(
            "a container name is letters, digits, '_', '.' and '-'",
            details=[{"field": "name", "message": "invalid"}],
        )
    return value


def members(client: Any, project: str) -> list[Any]:
    """Every container of the project, running or not, sorted by service then name."""
    found = client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    return sorted(found, key=lambda c: (service_of(c), c.name))


def find(client: Any, project: str, name: str) -> Any:
    for container in members(client, project):
        if container.name == name:
            return container
    raise NotFound(f"no container {name!r} in the stack", code="container_not_found")


def service_of(container: Any) -> str:
    return str((container.labels or {}).get(SERVICE_LABEL, ""))


def of_service(client: Any, project: str, service: str) -> list[Any]:
    return [c for c in members(client, project) if service_of(c) == service]
