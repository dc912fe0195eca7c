"""The provider registry: one `OAuthProvider` per auth-file type.

A provider module `oauth/providers/<type>.py` defines `PROVIDER`, whose `info` holds the
type's facts; it is found here by its file name, so adding a provider is adding its module and
its type to `TYPES`. A hook a module does not implement answers 501 (`NotSupported`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType

from ..provider import OAuthProvider

# Every auth-file type, in the order lists show them; each one's facts (`info`) and hooks live
# in its own module `<type>.py` (oauth-providers.md §2-§7), so they are written down once.
TYPES = ("claude", "codex", "antigravity", "gemini", "kimi", "xai")


def _load(type_: str) -> OAuthProvider:
    provider = importlib.import_module(f"{__name__}.{type_}").PROVIDER
    assert isinstance(provider, OAuthProvider) and provider.info.type == type_
    return provider


PROVIDERS: Mapping[str, OAuthProvider] = MappingProxyType({t: _load(t) for t in TYPES})


def by_name(name: str) -> OAuthProvider | None:
    """The provider an auth-file type, a starter name or an alias names (case-insensitive)."""
    name = name.strip().lower()
    for provider in PROVIDERS.values():
        info = provider.info
        if name == info.type or name == info.starter or name in info.names:
            return provider
    return None
