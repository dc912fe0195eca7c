"""The provider registry: one `OAuthProvider` per auth-file type.

A provider module `oauth/providers/<type>.py` defines `PROVIDER`; it is found here by its file
name, so adding a provider is adding its module (no edit of this file). A type whose module does
not exist yet is a `PlannedProvider` with the facts below: its files are listed and serve
nothing, its starter and quota answer 501.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType

from ..provider import OAuthProvider, PlannedProvider, ProviderInfo

HOUR = 3600.0

# The facts of every type from oauth-providers.md §0-§7; a module's own `info` wins.
PLANNED: tuple[ProviderInfo, ...] = (
    ProviderInfo(
        type="claude",
        label="Claude",
        starter="anthropic",
        names=("anthropic", "claude"),
        flow="redirect",
        wire_format="anthropic",
        callback_path="/anthropic/callback",
        redirect_uri="http://localhost:54545/callback",
        refresh_lead=4 * HOUR,
        api_hosts=("api.anthropic.com",),
    ),
    ProviderInfo(
        type="codex",
        label="Codex",
        starter="codex",
        names=("codex", "openai"),
        flow="redirect",
        wire_format="responses",
        callback_path="/codex/callback",
        redirect_uri="http://localhost:1455/auth/callback",
        refresh_lead=5 * 24 * HOUR,
        api_hosts=("chatgpt.com",),
    ),
    ProviderInfo(
        type="antigravity",
        label="Antigravity",
        starter="antigravity",
        names=("antigravity", "anti-gravity"),
        flow="redirect",
        wire_format="gemini",
        callback_path="/antigravity/callback",
        redirect_uri="http://localhost:51121/oauth-callback",
        refresh_lead=300.0,
        refresh_before_use=3000.0,
        api_hosts=(
            "cloudcode-pa.googleapis.com",
            "daily-cloudcode-pa.googleapis.com",
            "daily-cloudcode-pa.sandbox.googleapis.com",
        ),
    ),
    ProviderInfo(
        type="gemini",
        label="Gemini CLI",
        starter="gemini-cli",
        names=("gemini", "gemini-cli"),
        flow="redirect",
        wire_format="gemini",
        callback_path="/google/callback",
        redirect_uri="http://localhost:8085/oauth2callback",
        channel="gemini-cli",
        refresh_lead=300.0,
        api_hosts=("cloudcode-pa.googleapis.com", "daily-cloudcode-pa.googleapis.com"),
        state_prefix="gem-",
    ),
    ProviderInfo(
        type="kimi",
        label="Kimi",
        starter="kimi",
        names=("kimi",),
        flow="device",
        wire_format="openai",
        refresh_lead=300.0,
        api_hosts=("api.kimi.com",),
        state_prefix="kmi-",
    ),
    ProviderInfo(
        type="xai",
        label="xAI",
        starter="xai",
        names=("xai", "x-ai", "x.ai", "grok"),
        flow="device",
        wire_format="responses",
        refresh_lead=300.0,
        api_hosts=("cli-chat-proxy.grok.com", "api.x.ai"),
        state_prefix="xai-",
    ),
)


def _load(info: ProviderInfo) -> OAuthProvider:
    module_name = f"{__name__}.{info.type}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # the module exists but one of its imports is missing: a real error
        return PlannedProvider(info)
    provider = module.PROVIDER
    assert isinstance(provider, OAuthProvider)
    return provider


PROVIDERS: Mapping[str, OAuthProvider] = MappingProxyType({i.type: _load(i) for i in PLANNED})


def by_name(name: str) -> OAuthProvider | None:
    """The provider an auth-file type, a starter name or an alias names (case-insensitive)."""
    name = name.strip().lower()
    for provider in PROVIDERS.values():
        info = provider.info
        if name == info.type or name == info.starter or name in info.names:
            return provider
    return None


def by_starter(starter: str) -> OAuthProvider | None:
    return next((p for p in PROVIDERS.values() if p.info.starter == starter), None)
