"""The runtime snapshot: everything a request needs, derived once per config load.

Requests read `holder.current` once and use that snapshot to the end, so a reload never
changes the rules under a request in flight.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp
import orjson
import structlog

from ..config.loader import LoadedConfig
from ..config.model import ProxyConfig
from .credentials import Credential, build_credentials
from .registry import ModelIndex, ModelInfo

log = structlog.get_logger(__name__)


def key_digest(entry: str) -> bytes | None:
    """The SHA-256 digest an `api-keys` entry stands for (`sha256:<hex>` or plaintext)."""
    entry = entry.strip()
    if not entry:
        return None
    if entry.startswith("sha256:"):
        try:
            digest = bytes.fromhex(entry[7:])
        except ValueError:
            return None
        return digest if len(digest) == 32 else None
    return hashlib.sha256(entry.encode()).digest()


@dataclass(frozen=True, slots=True)
class Runtime:
    config: ProxyConfig
    credentials: tuple[Credential, ...]
    index: ModelIndex
    key_digests: frozenset[bytes]
    models_openai: bytes
    models_anthropic: bytes
    models_created: int  # the lists' `created`, also for lists filtered per client key
    body_limit: int
    json_depth_limit: int
    # Built once per config: aiohttp timeouts for non-stream and stream attempts.
    timeout_complete: aiohttp.ClientTimeout
    timeout_stream: aiohttp.ClientTimeout

    def credential(self, cred_id: str) -> Credential | None:
        return next((c for c in self.credentials if c.id == cred_id), None)


def models_bodies(models: Sequence[ModelInfo], created: int) -> tuple[bytes, bytes]:
    """`/v1/models` in the OpenAI and the Anthropic shape."""
    openai = {
        "object": "list",
        "data": [
            {"id": m.id, "object": "model", "created": created, "owned_by": m.owned_by}
            for m in models
        ],
    }
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    data = [
        {"type": "model", "id": m.id, "display_name": m.id, "created_at": stamp} for m in models
    ]
    anthropic = {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
    return orjson.dumps(openai), orjson.dumps(anthropic)


# Credentials from elsewhere than config.yaml (the OAuth accounts of the auth directory).
CredentialSource = Callable[[ProxyConfig], Sequence[Credential]]


def build_runtime(loaded: LoadedConfig, extra: CredentialSource | None = None) -> Runtime:
    config = loaded.config
    credentials = tuple(build_credentials(config)) + (tuple(extra(config)) if extra else ())
    index = ModelIndex(credentials, force_prefix=config.force_model_prefix)
    digests = frozenset(d for d in (key_digest(k) for k in config.api_keys) if d is not None)
    created = int(time.time())
    models_openai, models_anthropic = models_bodies(index.models, created)
    log.info(
        "runtime_built",
        credentials=len(credentials),
        models=len(index),
        client_keys=len(digests),
    )
    return Runtime(
        config=config,
        credentials=credentials,
        index=index,
        key_digests=digests,
        models_openai=models_openai,
        models_anthropic=models_anthropic,
        models_created=created,
        body_limit=config.body_limit_bytes,
        json_depth_limit=config.request_json_depth_limit,
        timeout_complete=aiohttp.ClientTimeout(
            total=None, sock_connect=config.timeouts.connect, sock_read=config.timeouts.idle
        ),
        timeout_stream=aiohttp.ClientTimeout(total=None, sock_connect=config.timeouts.connect),
    )


class RuntimeHolder:
    """Holds the current snapshot; the config store's listener swaps it, and so does a change
    of the extra credentials (`rebuild`)."""

    def __init__(self, loaded: LoadedConfig, extra: CredentialSource | None = None) -> None:
        self._loaded = loaded
        self._extra = extra
        self.current = build_runtime(loaded, extra)

    def apply(self, loaded: LoadedConfig) -> None:
        self._loaded = loaded
        self.current = build_runtime(loaded, self._extra)

    def rebuild(self) -> None:
        """A new snapshot from the same config (the extra credentials changed)."""
        self.current = build_runtime(self._loaded, self._extra)
