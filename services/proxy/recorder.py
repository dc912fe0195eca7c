"""Builds the usage event of each upstream attempt and hands it to the outbox.

Field names follow PROTOCOLS.md section 5. The client key never appears: only `api_key_id`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from .call import Call
from .registry import Target
from .stats import CredentialStats
from .translate.usage import Usage

log = structlog.get_logger(__name__)
_EMPTY = Usage()


class EventSink(Protocol):
    def append(self, event: dict[str, Any]) -> int: ...


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
            "auth_type": "api_key",
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
            "reasoning_effort": body.get("reasoning_effort") or "",
            "service_tier": body.get("service_tier") or "",
            "client_ip": request.remote or "",
            "user_agent": request.headers.get("User-Agent", "")[:256],
        }
        if reason:
            event["fail_reason"] = reason
        self.sink.append(event)
