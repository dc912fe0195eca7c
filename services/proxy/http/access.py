"""Client authentication: the key may come from Bearer, x-api-key, x-goog-api-key or ?key=.

Keys are compared as SHA-256 digests, never as plaintext. With no keys configured every
inference request is refused: this proxy is never open by accident.
"""

from __future__ import annotations

import hashlib

from aiohttp import web

from services.core.errors import Unauthorized

from ..routing.runtime import Runtime


def presented_key(request: web.Request) -> str:
    """The client key from the first header or query parameter that carries one."""
    auth = request.headers.get("Authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        return value.strip() if value and scheme.lower() == "bearer" else auth.strip()
    for header in ("x-api-key", "x-goog-api-key"):
        found = request.headers.get(header)
        if found:
            return found.strip()
    query = request.query
    return query.get("key") or query.get("auth_token") or ""


def authenticate(request: web.Request, runtime: Runtime) -> str:
    """Check the client key; return its `api_key_id` (16 hex of the key's SHA-256)."""
    if not runtime.key_digests:
        raise Unauthorized(
            "No API keys are configured on this proxy; add one to api-keys (or in the dashboard)",
            code="no_api_keys",
        )
    key = presented_key(request)
    if not key:
        raise Unauthorized("Missing API key", code="missing_api_key")
    digest = hashlib.sha256(key.encode()).digest()
    if digest not in runtime.key_digests:
        raise Unauthorized("Invalid API key", code="invalid_api_key")
    return digest.hex()[:16]
