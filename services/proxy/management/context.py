"""What the management API needs from the rest of the proxy, as one small typed context.

The proxy app builds a `ManagementContext` and passes it to `management_routes()` and
`management_middleware()`; everything owned elsewhere (cooldowns, credentials, usage) is a callable.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from services.proxy.config.store import ConfigStore
from services.proxy.oauth.service import OAuthService


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """One credential as `api-call` needs it: where it may call, and the secret to substitute."""

    kind: str  # claude | gemini | codex | openai-compatibility | antigravity | kimi | ...
    base_url: str
    secret: str = field(repr=False)
    proxy_url: str = ""
    hosts: tuple[str, ...] = ()  # https hosts besides the provider's usual ones (OAuth accounts)
    oauth: bool = False  # the secret is an OAuth account's live token, fetched per call


@dataclass(frozen=True, slots=True)
class RequestBucket:
    """Traffic of one credential in one time bucket (Management Center `recent_requests`)."""

    time: str  # RFC 3339 start of the bucket
    success: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class AuthStats:
    """Runtime state of one credential, merged into the auth-file listing."""

    success: int = 0
    failed: int = 0
    recent_requests: tuple[RequestBucket, ...] = ()
    unavailable: bool = False  # every model of the credential is cooling down
    status_message: str = ""
    next_retry_after: str | None = None  # RFC 3339, when the nearest cooldown ends
    # OAuth accounts: the refresher's view (a rejected refresh token makes `unavailable`).
    last_refresh: str | None = None
    expires_at: str | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class ManagementLimits:
    """Caps on what one management request may cost (tests lower them)."""

    auth_file_max_bytes: int = 1024 * 1024
    auth_upload_max_files: int = 100
    auth_upload_max_bytes: int = 16 * 1024 * 1024
    config_yaml_max_bytes: int = 4 * 1024 * 1024
    json_body_max_bytes: int = 4 * 1024 * 1024
    api_call_timeout: float = 60.0
    api_call_max_bytes: int = 8 * 1024 * 1024
    ban_threshold: int = 5
    ban_seconds: float = 30 * 60


def _no_stats(_auth_index: str) -> AuthStats:
    return AuthStats()


def _no_models(_auth_index: str) -> list[ModelInfo]:
    return []


@dataclass(slots=True)
class ManagementContext:
    """Everything the management API reads or calls; built once by the proxy app."""

    store: ConfigStore
    management_key: Callable[[], str | None]
    auth_dir: Path
    logs_dir: Path
    reset_cooldowns: Callable[[str | None], int]
    credential_for: Callable[[str], CredentialInfo | None]
    usage_pop: Callable[[int], Awaitable[list[dict[str, Any]]]]
    http_session: Callable[[], aiohttp.ClientSession]
    auth_stats: Callable[[str], AuthStats] = _no_stats
    models_for: Callable[[str], list[ModelInfo]] = _no_models
    version: str = "dev"
    build_date: str = ""
    clock: Callable[[], float] = time.monotonic
    limits: ManagementLimits = field(default_factory=ManagementLimits)
    oauth: OAuthService | None = None  # logins, account tokens and quota (docs/oauth.md)
