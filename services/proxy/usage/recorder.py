"""Builds the usage event of each upstream attempt and hands it to the outbox.

Field names follow PROTOCOLS.md section 5. The client key never appears: only `api_key_id`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from ..routing.codec_contract import Call
from ..routing.registry import Target
from ..translate.usage import Usage
from .stats import CredentialStats

log = structlog.get_logger(__name__)
_EMPTY = Usage()


class EventSink(Protocol):
    def append(self, event: dict[str, Any]) -> int: ...


class _Timestamps:
    """`datetime.now(UTC).isoformat(timespec="milliseconds")`, the same text, for a tenth of
    its cost (about 3 us): the date and time of day are formatted once per second.

    `datetime.now` floors the clock to microseconds and the milliseconds are floored from
    those, which is flooring `time.time_ns()` to milliseconds.
    """

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        ms = self._clock() // 1_000_000
        second, millis = divmod(ms, 1000)
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, UTC).isoformat()[:19]
            self._second = second
        return f"{self._prefix}.{millis:03d}+00:00"


_TIMESTAMPS = _Timestamps()
# The top-level fields reasoning_effort reads; a body with none of them skips the search.
_EFFORT_FIELDS = (
    "reasoning_effort",
    "reasoning",
    "output_config",
    "thinking",
    "generationConfig",
)


def _dig(body: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(body, dict):
            return None
        body = body.get(key)  # type: ignore[assignment]
    return body


def reasoning_effort(call: Call) -> str:
    """The reasoning the client asked for, from the model suffix or the format's native field."""
    cached = call.extra.get("effort")
    if cached is not None:
        return str(cached)
    thinking = call.extra.get("thinking")
    if thinking is not None:
        modes: dict[str, str] = {"budget": str(thinking.budget), "level": thinking.level}
        effort = modes.get(thinking.mode, str(thinking.mode))
    elif call.body.keys().isdisjoint(_EFFORT_FIELDS):
        effort = ""  # most requests name no effort: skip the six lookups below
    else:
        body = call.body
        value = (
            body.get("reasoning_effort")
            or _dig(body, "reasoning", "effort")
            or _dig(body, "output_config", "effort")
            or _dig(body, "thinking", "budget_tokens")
            or _dig(body, "generationConfig", "thinkingConfig", "thinkingLevel")
            or _dig(body, "generationConfig", "thinkingConfig", "thinkingBudget")
        )
        effort = str(value) if value is not None else ""
    call.extra["effort"] = effort
    return effort


class Recorder:
    def __init__(self, sink: EventSink | None, stats: CredentialStats | None = None) -> None:
        self.sink = sink
        self.stats = stats

    def attempt(
        self,
        call: Call,
        target: Target,
        *,
        status: int,
        failed: bool,
        tokens: Usage | None,
        latency_ms: int,
        ttft_ms: int | None,
        reason: str | None = None,
    ) -> None:
        if call.meter is not None:
            call.meter.attempted(target, tokens)
        if self.stats is not None:
            self.stats.record(target.credential.id, not failed)
        if self.sink is None or not call.runtime.config.usage_statistics_enabled:
            return
        event = _event(call, target, status, tokens, latency_ms, ttft_ms)
        event["failed"] = failed
        if reason:
            event["fail_reason"] = reason
        self.sink.append(event)

    def refused(self, call: Call, *, status: int, refused: str) -> None:
        """A request the client key's limits refused: nothing went upstream, so no provider
        and no tokens; a failure for the key's statistics, `refused` naming the limit
        (docs/limits.md)."""
        if self.sink is None or not call.runtime.config.usage_statistics_enabled:
            return
        event = _event(call, None, status, None, 0, None)
        event["failed"] = True
        event["refused"] = refused
        self.sink.append(event)


def _event(
    call: Call,
    target: Target | None,
    status: int,
    tokens: Usage | None,
    latency_ms: int,
    ttft_ms: int | None,
) -> dict[str, Any]:
    """One event of `call`; without a target (a refused request) the upstream fields are
    empty and the model is the one asked for."""
    cred = target.credential if target is not None else None
    body = call.body
    request = call.request
    return {
        "timestamp": _TIMESTAMPS.now(),
        "request_id": call.request_id,
        "api_key_id": call.api_key_id,
        "provider": cred.channel if cred else "",
        "executor_type": cred.provider if cred else "",
        "auth_type": cred.auth_type if cred else "",
        "auth_index": cred.id if cred else "",
        "source": cred.label if cred else "",
        "endpoint": call.endpoint,
        "model": target.upstream_model if target else call.model,
        "alias": call.model,
        "latency_ms": latency_ms,
        "ttft_ms": ttft_ms,
        "stream": call.stream,
        "failed": False,
        "status_code": status,
        "tokens": (tokens or _EMPTY).as_dict(),
        "reasoning_effort": reasoning_effort(call),
        "service_tier": body.get("service_tier") or "",
        "client_ip": request.remote or "",
        "user_agent": request.headers.get("User-Agent", "")[:256],
    }
