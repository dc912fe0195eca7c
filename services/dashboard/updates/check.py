"""Is a newer gateway image published? The running image's digest against the digest the
registry gives for the same tag (asked through the engine's distribution endpoint, so the
socket proxy needs DISTRIBUTION=1). No registry answer is said plainly, never guessed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import docker.errors
from docker.utils import parse_repository_tag

from services.core.errors import ValidationFailed
from services.dashboard.containers import policy, stack

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True, slots=True)
class ImageStatus:
    service: str
    container: str
    image: str  # the reference the service runs: repo:tag
    running_digests: list[str]  # sha256:... the registry knows the running image by
    registry_digest: str | None
    problem: str | None  # why the registry gave no digest

    @property
    def update_available(self) -> bool | None:
        if self.registry_digest is None:
            return None
        return self.registry_digest not in self.running_digests


def check_tag(value: object) -> str:
    if not isinstance(value, str) or not _TAG.fullmatch(value):
        raise ValidationFailed(
            "a tag is letters, digits, '_', '.' and '-' (at most 128)",
            details=[{"field": "tag", "message": "invalid"}],
        )
    return value


def split(reference: str) -> tuple[str, str]:
    """repo and tag of `reference` (tag `latest` when none); digests are not updatable."""
    repo, tag = parse_repository_tag(reference)
    if tag and tag.startswith("sha256:"):
        raise ValidationFailed(f"{reference} is pinned by digest: update the tag in .env instead")
    return repo, tag or "latest"


def with_tag(reference: str, tag: str | None) -> str:
    repo, current = split(reference)
    return f"{repo}:{tag or current}"


def gateway_container(client: Any, project: str) -> Any | None:
    """The container whose image is "the gateway image": the proxy's."""
    found = stack.of_service(client, project, policy.UPDATABLE[0])
    return found[0] if found else None


def image_status(client: Any, project: str, service: str = policy.UPDATABLE[0]) -> ImageStatus:
    found = stack.of_service(client, project, service)
    if not found:
        return ImageStatus(service, "", "", [], None, f"no {service} container in the stack")
    container = found[0]
    reference = str(container.attrs["Config"]["Image"])
    running = running_digests(client, container.attrs["Image"])
    digest, problem = registry_digest(client, reference)
    return ImageStatus(service, container.name, reference, running, digest, problem)


def running_digests(client: Any, image_id: str) -> list[str]:
    try:
        repo_digests = client.images.get(image_id).attrs.get("RepoDigests") or []
    except docker.errors.NotFound:
        return []
    return [str(d).rsplit("@", 1)[1] for d in repo_digests if "@" in str(d)]


def registry_digest(client: Any, reference: str) -> tuple[str | None, str | None]:
    """(digest, None), or (None, the reason there is none)."""
    try:
        data = client.images.get_registry_data(reference)
    except docker.errors.APIError as exc:
        if exc.status_code == 403:  # the engine reports registry refusals as 401/404/500
            return None, "the socket proxy refuses registry look-ups (DISTRIBUTION=1 is needed)"
        return None, f"no registry access for {reference}: {short_reason(exc)}"
    return str(data.id), None


def short_reason(exc: docker.errors.APIError) -> str:
    explanation = exc.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    return str(explanation or exc).strip()[:240]


def dashboard_version() -> str:
    try:
        return metadata.version("llm-gateway")
    except metadata.PackageNotFoundError:
        return "unknown"
