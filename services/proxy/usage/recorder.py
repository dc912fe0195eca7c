"""Builds the usage event of each upstream attempt and hands it to the outbox.

Field names follow PROTOCOLS.md section 5. The client key never appears: only `api_key_id`.
"""

from __future__ import annotations

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
        cred = target.credential
        if self.stats is not None:
            self.stats.record(cred.id, not failed)
        if self.sink is None or not call.runtime.config.usage_statistics_enabled:
            return
        body = call.body
        request = call.request
        event: dict[str, Any] = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "request_id": call.request_id,
            "api_key_id": call.api_key_id,
            "provider": cred.channel,
            "executor_type": cred.provider,
            "auth_type": cred.auth_type,
            "auth_index": cred.id,
            "source": cred.label,
            "endpoint": call.endpoint,
            "model": target.upstream_model,
            "alias": call.model,
            "latency_ms": latency_ms,
            "ttft_ms": ttft_ms,
            "stream": call.stream,
            "failed": failed,
            "status_code": status,
            "tokens": (tokens or _EMPTY).as_dict(),
            "reasoning_effort": reasoning_effort(call),
            "service_tier": body.get("service_tier") or "",
            "client_ip": request.remote or "",
            "user_agent": request.headers.get("User-Agent", "")[:256],
        }
        if reason:
            event["fail_reason"] = reason
        self.sink.append(event)
