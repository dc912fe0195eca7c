"""One client request on its way through the proxy, and the codec contract per wire format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from ..translate.errors import ClientFormat
from ..translate.usage import Usage
from .registry import Target, Tiers
from .runtime import Runtime
from .upstream_adapter import StreamProcessor, UpstreamRequest

__all__ = ["Call", "Codec", "StreamProcessor", "UpstreamRequest"]


class AttemptMeter(Protocol):
    """Told each upstream attempt's tokens (a client key's limits count them)."""

    def attempted(self, target: Target, tokens: Usage | None) -> None: ...


@dataclass(slots=True)
class Call:
    request: web.Request
    runtime: Runtime
    client_fmt: ClientFormat
    endpoint: str
    model: str  # the id the client asked for
    body: dict[str, Any]
    stream: bool
    api_key_id: str
    request_id: str
    bootstrap_left: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    # The targets the client key may use, when its limits narrow the model's (limits/).
    tiers: Tiers | None = None
    meter: AttemptMeter | None = None


class Codec(Protocol):
    """Everything format-specific about one (client format, upstream format) exchange."""

    client_fmt: ClientFormat

    def build(self, call: Call, target: Target) -> UpstreamRequest: ...

    def response(self, call: Call, target: Target, body: bytes) -> tuple[bytes, Usage | None]: ...

    def stream(self, call: Call, target: Target) -> StreamProcessor: ...

    def passthrough_errors(self, target: Target) -> bool:
        """True when an upstream error body is already in the client's format."""
        ...
