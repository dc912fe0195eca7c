"""The `UpstreamAdapter` parts of an upstream that speaks its wire format as it is: answers and
streams pass through unchanged, there is no counting endpoint (the proxy estimates) and no
provider-specific cooldown signal (the generic rules apply). A provider's adapter inherits
these and writes `build` and whatever its upstream does differently."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...routing.upstream_adapter import FailureHint, StreamProcessor, UpstreamRequest


class PassThrough:
    def count_request(
        self, body: dict[str, Any], headers: dict[str, str], client_headers: Mapping[str, str]
    ) -> UpstreamRequest | None:
        return None

    def response(self, body: bytes) -> bytes:
        return body

    def stream(self, inner: StreamProcessor) -> StreamProcessor:
        return inner

    def failure(self, status: int, headers: Mapping[str, str], body: bytes) -> FailureHint | None:
        return None
