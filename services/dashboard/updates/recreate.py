"""Recreate a compose service's container with another image, as `docker compose up` would,
through the Docker API alone (the socket proxy allows no compose CLI):

1. `prepare`: create the new container from the old one's configuration (its compose labels
   included, so compose still sees the service), less what came from the old image (its env,
   command, health check... as image defaults), with the new image, under a temporary name, on
   the old one's networks with its aliases.
2. `Swap.switch`: stop the old one (its published ports are freed), rename it aside, give the
   new one the service's name, start it.
3. `wait_ready`: healthy (or, without a health check, still running after a grace period).
4. `Swap.commit` removes the old container; `Swap.rollback` removes the new one and starts the
   old one under its name again.

Blocking (docker SDK): run in a worker thread.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import docker.errors

from services.core.logging import redact_text

STOP_TIMEOUT_S = 20
NO_CHECK_GRACE_S = 5.0
# Fields of a container's Config that an image provides as defaults: when the container's value
# equals its old image's, the new image's default applies instead.
_IMAGE_DEFAULTS = ("Cmd", "Entrypoint", "WorkingDir", "User", "Healthcheck", "StopSignal")


@dataclass
class Swap:
    name: str
    old_id: str
    new_id: str
    aside: str  # the old container's name while the new one runs
    failed: bool = False  # the new container did not become ready

    def switch(self, client: Any) -> None:
        api = client.api
        api.stop(self.old_id, timeout=STOP_TIMEOUT_S)
        api.rename(self.old_id, self.aside)
        api.rename(self.new_id, self.name)
        api.start(self.new_id)

    def commit(self, client: Any) -> None:
        client.api.remove_container(self.old_id, force=True)

    def rollback(self, client: Any) -> None:
        api = client.api
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(self.new_id, force=True)
        if _name_of(client, self.old_id) != self.name:
            api.rename(self.old_id, self.name)
        api.start(self.old_id)

    def discard(self, client: Any) -> None:
        """Before `switch`: only the new container exists to remove."""
        client.api.remove_container(self.new_id, force=True)


def _name_of(client: Any, container_id: str) -> str:
    return str(client.api.inspect_container(container_id)["Name"]).lstrip("/")


def prepare(client: Any, old: Any, image: str) -> Swap:
    """Create the new container (not started) beside `old`."""
    api = client.api
    attrs = api.inspect_container(old.id)
    name = str(attrs["Name"]).lstrip("/")
    config = container_config(attrs, _image_config(client, attrs["Image"]), image)
    networks: dict[str, Any] = attrs["NetworkSettings"].get("Networks") or {}
    primary = attrs["HostConfig"].get("NetworkMode")
    primary = primary if primary in networks else next(iter(networks), None)
    short = attrs["Id"][:12]
    if primary:
        config["NetworkingConfig"] = {
            "EndpointsConfig": {primary: _endpoint(networks[primary], short)}
        }
    stamp = time.strftime("%Y%m%d%H%M%S")
    created = api.create_container_from_config(config, name=f"{name}-new-{stamp}")
    new_id = str(created["Id"])
    try:
        for network, endpoint in networks.items():
            if network != primary:
                settings = _endpoint(endpoint, short)
                api.connect_container_to_network(
                    new_id, network, aliases=settings["Aliases"] or None
                )
    except Exception:
        api.remove_container(new_id, force=True)
        raise
    return Swap(name, str(attrs["Id"]), new_id, f"{name}-old-{stamp}")


def _image_config(client: Any, image_id: str) -> dict[str, Any]:
    try:
        return dict(client.api.inspect_image(image_id).get("Config") or {})
    except docker.errors.NotFound:
        return {}  # the old image is gone: keep every value of the container


def container_config(
    attrs: dict[str, Any], old_image: dict[str, Any], image: str
) -> dict[str, Any]:
    """The create body: the old container's Config and HostConfig, image defaults left out."""
    config = dict(attrs["Config"])
    config["Image"] = image
    if config.get("Hostname") == attrs["Id"][:12]:
        config.pop("Hostname")  # Docker's default (the id): the new container gets its own
    image_env = set(old_image.get("Env") or [])
    config["Env"] = [e for e in config.get("Env") or [] if e not in image_env]
    for field in _IMAGE_DEFAULTS:
        if field in config and config[field] == old_image.get(field):
            config.pop(field)
    image_labels = old_image.get("Labels") or {}
    config["Labels"] = {
        k: v for k, v in (config.get("Labels") or {}).items() if image_labels.get(k) != v
    }
    for field in ("ExposedPorts", "Volumes"):
        own = {
            k: v
            for k, v in (config.get(field) or {}).items()
            if k not in (old_image.get(field) or {})
        }
        config[field] = own or None
    config["HostConfig"] = attrs["HostConfig"]
    return config


def _endpoint(endpoint: dict[str, Any], short_id: str) -> dict[str, Any]:
    aliases = [a for a in endpoint.get("Aliases") or [] if a != short_id]
    settings: dict[str, Any] = {"Aliases": aliases}
    if endpoint.get("IPAMConfig"):
        settings["IPAMConfig"] = endpoint["IPAMConfig"]
    if endpoint.get("Links"):
        settings["Links"] = endpoint["Links"]
    return settings


def wait_ready(client: Any, container_id: str, timeout_s: float) -> tuple[bool, str]:
    """(True, how) once healthy, or running for a grace period without a health check;
    (False, why) when it exits, turns unhealthy or is not ready in time."""
    deadline = time.monotonic() + timeout_s
    started = time.monotonic()
    while True:
        state = client.api.inspect_container(container_id)["State"]
        health = state.get("Health")
        if state.get("Status") in ("exited", "dead"):
            return False, f"the container exited with code {state.get('ExitCode')}"
        if health is not None and health.get("Status") == "healthy":
            return True, "healthy"
        if health is not None and health.get("Status") == "unhealthy":
            return False, "unhealthy: " + _last_probe(health)
        if health is None and time.monotonic() - started >= min(NO_CHECK_GRACE_S, timeout_s):
            return True, f"running for {NO_CHECK_GRACE_S:.0f} s (no health check)"
        if time.monotonic() >= deadline:
            detail = _last_probe(health) if health else "not running"
            return False, f"not healthy after {timeout_s:.0f} s ({detail})"
        time.sleep(0.5)  # the engine pushes no health event through the socket proxy


def _last_probe(health: dict[str, Any]) -> str:
    probes = health.get("Log") or []
    if not probes:
        return "no probe finished yet"
    last = probes[-1]
    output = redact_text(str(last.get("Output", "")).strip())[-200:]
    return f"probe exit code {last.get('ExitCode')}" + (f": {output}" if output else "")


def run_once(client: Any, template: Any, image: str, timeout_s: float) -> tuple[bool, str]:
    """Run a one-shot service (the migration) with the new image; on success the new container
    takes the old one's place, on failure the old one stays and the new one is removed."""
    swap = prepare(client, template, image)
    api = client.api
    api.start(swap.new_id)
    try:
        result = api.wait(swap.new_id, timeout=timeout_s)
    except Exception as exc:  # requests' read timeout: it is still running
        api.remove_container(swap.new_id, force=True)
        return False, f"did not finish in {timeout_s:.0f} s ({type(exc).__name__})"
    code = int(result.get("StatusCode", -1))
    if code != 0:
        tail = redact_text(api.logs(swap.new_id, tail=5).decode("utf-8", "replace")).strip()
        api.remove_container(swap.new_id, force=True)
        return False, f"exited with code {code}" + (f": {tail[-300:]}" if tail else "")
    api.remove_container(swap.old_id, force=True)
    api.rename(swap.new_id, swap.name)
    return True, "exited with code 0"


def container_logs_tail(client: Any, container_id: str, lines: int = 5) -> str:
    try:
        raw = client.api.logs(container_id, tail=lines)
    except docker.errors.APIError:
        return ""
    return redact_text(bytes(raw).decode("utf-8", "replace")).strip()[-400:]
