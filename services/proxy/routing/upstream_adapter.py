"""What a codec hands the executor, and the hook by which a provider adapts it.

`UpstreamRequest` and `StreamProcessor` are the codec contract's exchange types. An
`UpstreamAdapter` is attached to a credential whose upstream is not a plain API (an OAuth
subscription account: oauth/providers/*): the codec translates the client's body into the
credential's wire format as for any credential, then the adapter decides the URL, the extra
headers and any body wrapper; it unwraps answers and reads the provider's own rate-limit and
quota signals. One adapter object per credential, built with the credential, so it holds that
account's facts (base URL, device ids, project) and needs nothing else per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from yarl import URL

from ..translate.usage import Usage


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    url: URL
    headers: dict[str, str]
    body: bytes


class StreamProcessor(Protocol):
    """Turns upstream stream bytes into client bytes, tracking usage and completion."""

    @property
    def tokens(self) -> Usage | None: ...

    @property
    def done(self) -> bool:
        """True once the upstream's own end of stream was seen."""
        ...

    def feed(self, chunk: bytes) -> bytes: ...

    def finish(self) -> bytes: ...

    def error(self, message: str, status: int) -> bytes:
        """An in-stream error in the client's format, ending the stream."""
        ...


@dataclass(frozen=True, slots=True)
class FailureHint:
    """How long a failed credential should rest, read from the provider's own signals.

    `retry_after` None means "no usable hint": the generic backoff applies (1 s x 2^n for a
    429), never the bare Retry-After header. `credential_wide` marks every model of the
    credential (a subscription's quota is per account, not per model)."""

    retry_after: float | None
    credential_wide: bool = False
    reason: str = ""


class UpstreamAdapter(Protocol):
    """Provider-specific sending for one credential (see the module docstring)."""

    def build(
        self,
        model: str,
        body: dict[str, Any],
        stream: bool,
        headers: dict[str, str],
        client_headers: Mapping[str, str],
    ) -> UpstreamRequest:
        """The request for `body` (already in the credential's wire format, `model` set).
        `headers` holds content type, accept, the credential's static headers and the
        Authorization with the current token; `client_headers` are the client's own."""
        ...

    def count_request(
        self, body: dict[str, Any], headers: dict[str, str], client_headers: Mapping[str, str]
    ) -> UpstreamRequest | None:
        """The token-counting request for `body`, or None when the upstream cannot count."""
        ...

    def response(self, body: bytes) -> bytes:
        """A whole non-stream answer, unwrapped to the wire format's plain answer."""
        ...

    def stream(self, inner: StreamProcessor) -> StreamProcessor:
        """A stream processor that unwraps upstream frames before `inner` translates them."""
        ...

    def failure(self, status: int, headers: Mapping[str, str], body: bytes) -> FailureHint | None:
        """The cooldown the provider's own signals ask for; None: the generic rules."""
        ...
