"""Credentials built from config.yaml: one per upstream key, with everything precomputed.

A credential's id (`auth_index`) is the first 16 hex characters of a SHA-256 over its identity
(provider, channel name, base URL, key), so it stays stable across restarts and reloads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from ..config.model import ApiKeyEntry, ModelMapping, OpenAICompatibility, ProviderKey, ProxyConfig
from ..translate.ir import Format
from .token_state import TokenState
from .upstream_adapter import UpstreamAdapter

# The wire format an upstream speaks.
UpstreamFormat = Format

ANTHROPIC_VERSION = "2023-06-01"
_OFFICIAL_ANTHROPIC = "api.anthropic.com"

DEFAULT_BASE_URLS: Mapping[str, str] = {
    "claude": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "codex": "https://api.openai.com/v1",
    "vertex": "https://aiplatform.googleapis.com",
}
_FORMAT_BY_PROVIDER: Mapping[str, UpstreamFormat] = {
    "openai-compatibility": "openai",
    "claude": "anthropic",
    "gemini": "gemini",
    "codex": "responses",
    "vertex": "gemini",
}
# Vertex AI express mode serves Google's models under this path of its host (CLIProxyAPI's
# vertex-api-key takes the host as base-url and appends it too).
VERTEX_MODELS_ROOT = "/v1/publishers/google"
# The config lists of single provider keys, by provider.
PROVIDER_LISTS: Mapping[str, str] = {
    "claude": "claude-api-key",
    "gemini": "gemini-api-key",
    "codex": "codex-api-key",
    "vertex": "vertex-api-key",
}


def auth_index(*parts: str) -> str:
    """Stable credential id: 16 hex of sha256 over the identity parts."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def provider_key_index(provider: str, entry: ProviderKey) -> str:
    """The `auth_index` of a provider key entry, as its credential carries it."""
    return auth_index(provider, provider, _base_url(provider, entry), entry.api_key)


def compat_key_index(entry: OpenAICompatibility, key: ApiKeyEntry) -> str:
    """The `auth_index` of one key of an OpenAI-compatible provider."""
    return auth_index("openai-compatibility", entry.name, entry.base_url.rstrip("/"), key.api_key)


def _base_url(provider: str, entry: ProviderKey) -> str:
    return (entry.base_url or DEFAULT_BASE_URLS[provider]).rstrip("/")


def mask_secret(secret: str) -> str:
    """A label safe to show and log: the first 4 and last 4 characters of long secrets."""
    if len(secret) <= 12:
        return "*" * len(secret)
    return f"{secret[:4]}...{secret[-4:]}"


@dataclass(frozen=True, slots=True)
class Credential:
    id: str
    provider: str  # openai-compatibility | claude | gemini | codex | vertex
    channel: str  # compat entry name, or the provider
    fmt: UpstreamFormat
    base_url: str
    secret: str = field(repr=False)
    label: str
    proxy_url: str
    headers: Mapping[str, str]
    prefix: str
    priority: int
    weight: int
    disable_cooling: bool
    models: tuple[ModelMapping, ...]
    excluded: tuple[str, ...]
    # Auth plus the entry's static headers, merged once; "$Name" headers are resolved per request.
    static_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    copied_headers: Mapping[str, str] = field(default_factory=dict)
    # "apikey" for config keys, "oauth" for auth-file accounts: the usage event's auth_type,
    # spelled as CLIProxyAPI's usage records spell it.
    auth_type: str = "apikey"
    # OAuth accounts: the live token (the Authorization header takes it per request), and the
    # provider's sending hook (oauth/providers/*). None for API keys.
    token: TokenState | None = field(default=None, repr=False, compare=False)
    adapter: UpstreamAdapter | None = field(default=None, repr=False, compare=False)


def auth_headers(fmt: UpstreamFormat, base_url: str, secret: str) -> Mapping[str, str]:
    """Headers that carry the credential, computed once per credential."""
    if fmt == "gemini":
        return {"x-goog-api-key": secret}
    if fmt == "anthropic":
        headers = {"x-api-key": secret, "anthropic-version": ANTHROPIC_VERSION}
        if urlsplit(base_url).hostname != _OFFICIAL_ANTHROPIC:
            # Anthropic-compatible gateways differ: some want x-api-key, some a Bearer token.
            headers["Authorization"] = f"Bearer {secret}"
        return headers
    return {"Authorization": f"Bearer {secret}"}


def split_headers(
    base: Mapping[str, str], configured: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(static headers, copied headers): `base` plus the configured ones, where a value
    "$Name" copies the client's header Name per request instead."""
    static = dict(base)
    copied = {}
    for name, value in configured.items():
        if value.startswith("$"):
            copied[name] = value[1:]
        else:
            static[name] = value
    return static, copied


def _with_headers(cred: Credential) -> Credential:
    base = auth_headers(cred.fmt, cred.base_url, cred.secret)
    static, copied = split_headers(base, cred.headers)
    return replace(cred, static_headers=static, copied_headers=copied)


def _compat_credentials(config: ProxyConfig) -> Iterator[Credential]:
    for entry in config.openai_compatibility:
        if entry.disabled:
            continue
        base = entry.base_url.rstrip("/")
        for key in entry.api_key_entries:
            yield Credential(
                id=compat_key_index(entry, key),
                provider="openai-compatibility",
                channel=entry.name,
                fmt="openai",
                base_url=base,
                secret=key.api_key,
                label=mask_secret(key.api_key),
                proxy_url=key.proxy_url or config.proxy_url,
                headers=dict(entry.headers),
                prefix=entry.prefix.strip("/"),
                priority=entry.priority,
                weight=key.weight,
                disable_cooling=entry.disable_cooling,
                models=tuple(entry.models),
                excluded=tuple(entry.excluded_models),
            )


def _provider_credentials(
    config: ProxyConfig, provider: str, entries: list[ProviderKey]
) -> Iterator[Credential]:
    for entry in entries:
        base = _base_url(provider, entry)
        yield Credential(
            id=provider_key_index(provider, entry),
            provider=provider,
            channel=provider,
            fmt=_FORMAT_BY_PROVIDER[provider],
            base_url=base + VERTEX_MODELS_ROOT if provider == "vertex" else base,
            secret=entry.api_key,
            label=mask_secret(entry.api_key),
            proxy_url=entry.proxy_url or config.proxy_url,
            headers=dict(entry.headers),
            prefix=entry.prefix.strip("/"),
            priority=entry.priority,
            weight=entry.weight,
            disable_cooling=entry.disable_cooling,
            models=tuple(entry.models),
            excluded=tuple(entry.excluded_models),
        )


def build_credentials(config: ProxyConfig) -> list[Credential]:
    """Every usable credential of the config, in file order."""
    creds = list(_compat_credentials(config))
    creds += _provider_credentials(config, "claude", config.claude_api_key)
    creds += _provider_credentials(config, "gemini", config.gemini_api_key)
    creds += _provider_credentials(config, "codex", config.codex_api_key)
    creds += _provider_credentials(config, "vertex", config.vertex_api_key)
    return [_with_headers(c) for c in creds]
