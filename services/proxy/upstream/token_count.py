"""Asking an upstream to count a request's input tokens (Anthropic count_tokens, Gemini
countTokens); None when it cannot, and the caller estimates instead."""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from yarl import URL

from services.core.errors import NotFound

from ..routing.codec_contract import Call, UpstreamRequest
from ..routing.registry import Target
from ..routing.runtime import Runtime
from .executor import MAX_ERROR_BODY
from .openai_passthrough import upstream_headers
from .sessions import UpstreamClients, read_capped

log = structlog.get_logger(__name__)


def first_target(runtime: Runtime, model: str, fmt: str) -> Target | None:
    """The first credential of upstream format `fmt` serving `model` (404 for an unknown model)."""
    tiers = runtime.index.lookup(model)
    if tiers is None:
        raise NotFound(f"The model '{model}' does not exist", code="model_not_found")
    return next((t for tier in tiers for t in tier if t.credential.fmt == fmt), None)


def count_request(
    call: Call, target: Target, url: str | URL, body: dict[str, Any]
) -> UpstreamRequest | None:
    """The counting request: the plain API's at `url`, or what the account's provider sends."""
    headers = upstream_headers(call, target, accept="application/json")
    adapter = target.credential.adapter
    if adapter is not None:
        return adapter.count_request(body, headers, call.request.headers)
    return UpstreamRequest(URL(url), headers, orjson.dumps(body))


async def upstream_count(
    clients: UpstreamClients, call: Call, target: Target, url: str | URL, body: dict[str, Any]
) -> dict[str, object] | None:
    """Ask the upstream to count; None when it cannot (the caller estimates instead)."""
    request = count_request(call, target, url, body)
    if request is None:
        return None
    session, proxy = clients.for_proxy(target.credential.proxy_url)
    try:
        async with session.post(
            request.url,
            data=request.body,
            headers=request.headers,
            proxy=proxy,
            timeout=call.runtime.timeout_complete,
            allow_redirects=False,  # never followed (docs/security.md): a 3xx means "estimate"
        ) as resp:
            data = await read_capped(resp, MAX_ERROR_BODY)
            if resp.status != 200:
                log.info("count_tokens_upstream_failed", status=resp.status)
                return None
    except Exception as exc:  # counting is best effort: any failure falls back to the estimate
        log.info("count_tokens_upstream_failed", reason=type(exc).__name__)
        return None
    parsed = orjson.loads(data)
    return parsed if isinstance(parsed, dict) else None
