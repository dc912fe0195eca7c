"""What the Containers page shows of each container: state, health, uptime, CPU and memory,
image and version; and a bounded tail of its logs. Runs in a worker thread (blocking SDK)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.core.logging import redact_text
from services.dashboard.containers import policy, stack

MAX_LOG_LINES = 500
MAX_LOG_BYTES = 512 * 1024
VERSION_LABEL = "org.opencontainers.image.version"


@dataclass(frozen=True, slots=True)
class ContainerView:
    name: str
    short_id: str
    service: str
    state: str  # running, exited, restarting, ...
    health: str | None  # healthy, unhealthy, starting; None without a health check
    started_at: datetime | None
    image: str
    version: str
    cpu_percent: float | None
    memory_bytes: int | None
    memory_limit: int | None
    actions: list[str]
    controllable: bool

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def uptime_s(self) -> int | None:
        if not self.running or self.started_at is None:
            return None
        return max(0, int((datetime.now(UTC) - self.started_at).total_seconds()))


def list_views(client: Any, project: str, with_stats: bool = True) -> list[ContainerView]:
    containers = stack.members(client, project)
    if not with_stats or not containers:
        return [view(c, None) for c in containers]
    running = [c for c in containers if c.status == "running"]
    # One stats call waits for two samples (about a second): ask for all of them at once.
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(running)))) as pool:
        stats = dict(zip([c.id for c in running], pool.map(_stats, running), strict=True))
    return [view(c, stats.get(c.id)) for c in containers]


def view(container: Any, stats: dict[str, Any] | None) -> ContainerView:
    attrs = container.attrs
    state = attrs.get("State", {})
    service = stack.service_of(container)
    running = state.get("Status") == "running"
    cpu, mem, limit = _usage(stats) if stats else (None, None, None)
    return ContainerView(
        name=container.name,
        short_id=container.short_id,
        service=service,
        state=str(state.get("Status", "unknown")),
        health=(state.get("Health") or {}).get("Status"),
        started_at=_time(state.get("StartedAt")),
        image=str(attrs.get("Config", {}).get("Image", "")),
        version=_version(attrs),
        cpu_percent=cpu,
        memory_bytes=mem,
        memory_limit=limit,
        actions=policy.available(service, running),
        controllable=service in policy.CONTROLLABLE,
    )


def _stats(container: Any) -> dict[str, Any] | None:
    try:
        result = container.stats(stream=False)
    except Exception:  # a container that stopped meanwhile has no stats; show none
        return None
    return result if isinstance(result, dict) else None


def _usage(stats: dict[str, Any]) -> tuple[float | None, int | None, int | None]:
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    cpu_delta = cpu.get("cpu_usage", {}).get("total_usage", 0) - pre.get("cpu_usage", {}).get(
        "total_usage", 0
    )
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cores = cpu.get("online_cpus") or len(cpu.get("cpu_usage", {}).get("percpu_usage") or []) or 1
    percent = cpu_delta / system_delta * cores * 100 if system_delta > 0 else None
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage")
    if usage is not None:  # page cache is reclaimable: `docker stats` leaves it out too
        details = memory.get("stats") or {}
        usage -= details.get("inactive_file", details.get("total_inactive_file", 0))
    return percent, usage, memory.get("limit")


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or value.startswith("0001-"):
        return None
    try:  # Docker gives nanoseconds; Python parses microseconds
        head, _, frac = value.rstrip("Z").partition(".")
        return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")
    except ValueError:
        return None


def _version(attrs: dict[str, Any]) -> str:
    labels = attrs.get("Config", {}).get("Labels") or {}
    if labels.get(VERSION_LABEL):
        return str(labels[VERSION_LABEL])
    image = str(attrs.get("Config", {}).get("Image", ""))
    tail = image.rsplit("/", 1)[-1]
    return tail.split(":", 1)[1] if ":" in tail else "latest"


def recent_logs(client: Any, project: str, name: str, lines: int) -> str:
    """The last `lines` lines (at most MAX_LOG_LINES and MAX_LOG_BYTES), secrets masked."""
    container = stack.find(client, project, name)
    raw = container.logs(tail=min(lines, MAX_LOG_LINES), timestamps=True)
    text = bytes(raw[-MAX_LOG_BYTES:]).decode("utf-8", "replace")
    return redact_text(text)
