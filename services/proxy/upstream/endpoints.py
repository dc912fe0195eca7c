"""Where to call an upstream of each wire format: the URL paths of generation and token counting.

The headers that carry a credential are computed with the credential (`routing.credentials`).
"""

from __future__ import annotations

import functools

from yarl import URL

from ..routing.credentials import UpstreamFormat

_GEMINI_ROOTS = ("/v1beta", "/v1", "/publishers/google")


@functools.lru_cache(maxsize=4096)
def upstream_url(fmt: UpstreamFormat, base_url: str, model: str, stream: bool) -> URL:
    """The endpoint of one generation call, parsed once (`base_url` has no trailing slash)."""
    return URL(_url_text(fmt, base_url, model, stream))


def gemini_count_url(base_url: str, model: str) -> URL:
    return URL(
        _url_text("gemini", base_url, model, False).replace(":generateContent", ":countTokens")
    )


def _url_text(fmt: UpstreamFormat, base_url: str, model: str, stream: bool) -> str:
    if fmt == "openai":
        return base_url + "/chat/completions"
    if fmt == "responses":
        return base_url + "/responses"
    if fmt == "anthropic":
        return base_url + ("/messages" if base_url.endswith("/v1") else "/v1/messages")
    # Gemini's API root, or Vertex AI's `.../v1/publishers/google` (same methods below it).
    root = base_url if base_url.endswith(_GEMINI_ROOTS) else base_url + "/v1beta"
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{root}/models/{model}:{action}"


def count_tokens_url(base_url: str) -> str:
    """Anthropic's token counting endpoint."""
    return base_url + (
        "/messages/count_tokens" if base_url.endswith("/v1") else "/v1/messages/count_tokens"
    )
