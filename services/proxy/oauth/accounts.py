"""The OAuth accounts of the auth directory, live: files -> shared tokens -> credentials.

`AccountPool` scans `auth-dir` (a cheap stat of every `*.json` each `interval`, so an edit on
disk or through the management routes is live well within a second), keeps one `TokenState` per
file across reloads (every runtime snapshot reads the same object, so a refresh is seen by the
next request without a rebuild), and turns each file into credentials for the runtime.

A token change on disk (an upload, a re-login, another tool) is adopted; a write-back of ours
records what it wrote first, so the scan that sees it changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from ..config.model import ModelMapping, ProxyConfig
from ..routing.credentials import Credential, auth_index
from ..routing.token_state import TokenState
from .auth_files import AuthFile, AuthFileStore, FileSignature
from .provider import Account, NotSupported, OAuthProvider, Tokens, Upstream
from .providers import PROVIDERS

log = structlog.get_logger(__name__)

SCAN_INTERVAL = 0.25


@dataclass(slots=True)
class AccountEntry:
    """One auth file with its provider and live token."""

    file: AuthFile
    provider: OAuthProvider | None  # None: a type no provider module knows
    token: TokenState
    signature: FileSignature
    upstreams: tuple[Upstream, ...] = ()
    refresh_failures: int = 0
    failed_until: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def data(self) -> Mapping[str, Any]:
        return self.file.data or {}

    @property
    def disabled(self) -> bool:
        return self.data.get("disabled") is True

    def account(self) -> Account:
        return Account(self.file.name, self.file.auth_index, self.data)


def _file_tokens(tokens: Tokens) -> tuple[str, str, float]:
    return (tokens.access_token, tokens.refresh_token, tokens.expires_at)


def adopt(token: TokenState, tokens: Tokens, lead: float) -> None:
    """Take the file's tokens into the live state (a new login or an upload: errors reset)."""
    token.access_token = tokens.access_token
    token.refresh_token = tokens.refresh_token
    token.expires_at = tokens.expires_at
    token.last_refresh = tokens.last_refresh
    token.refresh_before_use = lead
    token.file_tokens = _file_tokens(tokens)
    token.unavailable = False
    token.status, token.status_message, token.next_retry = "active", "", 0.0


class AccountPool:
    """Every auth file of one directory; see the module docstring."""

    def __init__(
        self,
        store: AuthFileStore,
        on_change: Callable[[], None] = lambda: None,
        providers: Mapping[str, OAuthProvider] = PROVIDERS,
    ) -> None:
        self.store = store
        self.providers = providers
        self.entries: dict[str, AccountEntry] = {}
        self.lock = asyncio.Lock()  # serializes read-modify-writes of auth files
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    # -- scanning ----------------------------------------------------------------------------

    def scan(self) -> bool:
        """Bring the entries in line with the directory (blocking); True when anything changed."""
        seen = self.store.signatures()
        changed = False
        for name in [n for n in self.entries if n not in seen]:
            del self.entries[name]
            changed = True
        for name, signature in seen.items():
            entry = self.entries.get(name)
            if entry is not None and entry.signature == signature:
                continue
            with contextlib.suppress(FileNotFoundError):
                self._load(name, signature, entry)
                changed = True
        return changed

    def _load(self, name: str, signature: FileSignature, entry: AccountEntry | None) -> None:
        file = self.store.load(name)
        provider = self.providers.get(file.provider)
        token = entry.token if entry is not None else TokenState()
        if provider is not None and file.data is not None:
            tokens = provider.tokens(file.data)
            if _file_tokens(tokens) != token.file_tokens:
                adopt(token, tokens, provider.info.refresh_before_use)
        fresh = AccountEntry(file, provider, token, signature)
        if entry is not None and entry.token is token:
            fresh.refresh_failures, fresh.failed_until = entry.refresh_failures, entry.failed_until
        fresh.upstreams = self._upstreams(fresh)
        self.entries[name] = fresh

    def _upstreams(self, entry: AccountEntry) -> tuple[Upstream, ...]:
        if entry.provider is None or entry.file.data is None:
            return ()
        try:
            return tuple(entry.provider.upstream(entry.account()))
        except NotSupported:
            return ()
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("auth_file_unusable", name=entry.name, reason=type(exc).__name__)
            return ()

    async def rescan(self) -> bool:
        """Scan now (off the event loop); rebuilds the runtime when anything changed. Under
        the write lock, so a scan never sees a write-back half done (file written, the live
        entry not yet told)."""
        async with self.lock:
            changed = await asyncio.to_thread(self.scan)
        if changed:
            self._on_change()
            self._changed.set()
        return changed

    async def watch(self, interval: float = SCAN_INTERVAL) -> None:
        while True:
            try:
                await self.rescan()
            except OSError as exc:
                log.warning("auth_dir_scan_failed", reason=type(exc).__name__)
            await asyncio.sleep(interval)  # polling the file system: no event to await

    def start(self, interval: float = SCAN_INTERVAL) -> None:
        self._task = asyncio.get_running_loop().create_task(self.watch(interval))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- lookups -----------------------------------------------------------------------------

    def by_index(self, index: str) -> AccountEntry | None:
        """The entry whose file (or one of its credentials) has this auth_index."""
        for entry in self.entries.values():
            if entry.file.auth_index == index or any(
                _credential_id(entry, up) == index for up in entry.upstreams
            ):
                return entry
        return None

    def by_token(self, token: TokenState) -> AccountEntry | None:
        return next((e for e in self.entries.values() if e.token is token), None)

    # -- write-backs -------------------------------------------------------------------------

    async def write_back(self, entry: AccountEntry, updates: Mapping[str, Any]) -> None:
        """Merge `updates` into the file on disk (atomically, mode 0600), keeping every other
        field; the live token already holds the new values."""
        provider = entry.provider
        async with self.lock:
            try:
                data = await asyncio.to_thread(self.store.update, entry.name, _merge(updates))
            except Exception as exc:  # the file may be gone or unreadable: the token stays live
                log.warning(
                    "auth_file_write_back_failed", name=entry.name, error=type(exc).__name__
                )
                return
        if provider is not None:
            entry.token.file_tokens = _file_tokens(provider.tokens(data))
        # The entries see the new content now, not at the next scan: a second refresh right
        # after this one must use the new (rotated) refresh token.
        for current in (entry, self.entries.get(entry.name)):
            if current is not None and current.token is entry.token:
                current.file = replace(current.file, data=data)

    # -- credentials -------------------------------------------------------------------------

    def credentials(self, config: ProxyConfig) -> list[Credential]:
        """Every usable credential of the auth directory (the runtime's extra source)."""
        creds: list[Credential] = []
        for entry in sorted(self.entries.values(), key=lambda e: e.name):
            if entry.disabled or entry.provider is None:
                continue
            creds += _entry_credentials(entry, config)
        return creds


def _merge(updates: Mapping[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data.update(updates)

    return mutate


def _credential_id(entry: AccountEntry, up: Upstream) -> str:
    index = entry.file.auth_index
    return auth_index("auth-file-part", index, up.key) if up.key else index


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def _int(data: Mapping[str, Any], key: str, default: int) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _strings(value: Any) -> list[str]:
    return (
        [v.strip() for v in value if isinstance(v, str) and v.strip()]
        if isinstance(value, list)
        else []
    )


def model_mappings(
    models: tuple[str, ...], aliases: list[Any], file_aliases: Any
) -> tuple[ModelMapping, ...]:
    """The served models after `oauth-model-alias` (and the file's `model_aliases`): an alias
    replaces its model's name, or adds to it with `fork`."""
    rules: dict[str, list[tuple[str, bool]]] = {}
    for rule in aliases:
        rules.setdefault(rule.name.strip().lower(), []).append((rule.alias.strip(), rule.fork))
    if isinstance(file_aliases, list):
        for rule in file_aliases:
            if isinstance(rule, dict) and isinstance(rule.get("name"), str):
                alias, fork = str(rule.get("alias", "")), rule.get("fork") is True
                rules.setdefault(rule["name"].strip().lower(), []).append((alias.strip(), fork))
    out: list[ModelMapping] = []
    for model in models:
        named = [(a, f) for a, f in rules.get(model.lower(), []) if a]
        if not named or any(f for _, f in named):
            out.append(ModelMapping(name=model))
        out += [ModelMapping(name=model, alias=a) for a, _ in named]
    return tuple(out)


def _entry_credentials(entry: AccountEntry, config: ProxyConfig) -> Iterator[Credential]:
    assert entry.provider is not None
    info, data = entry.provider.info, entry.data
    channel = info.channel_name
    aliases = config.oauth_model_alias.get(channel) or config.oauth_model_alias.get(info.type, [])
    excluded = list(config.oauth_excluded_models.get(channel) or [])
    if channel != info.type:
        excluded += config.oauth_excluded_models.get(info.type) or []
    excluded += _strings(data.get("excluded_models"))
    for up in entry.upstreams:
        yield Credential(
            id=_credential_id(entry, up),
            provider=info.type,
            channel=channel,
            fmt=info.wire_format,
            base_url=up.base_url,
            secret="",
            label=up.label,
            proxy_url=_text(data, "proxy_url") or config.proxy_url,
            headers={},
            prefix=_text(data, "prefix").strip("/"),
            priority=_int(data, "priority", 0),
            weight=max(_int(data, "weight", 1), 0),
            disable_cooling=data.get("disable_cooling") is True,
            models=model_mappings(up.models, aliases, data.get("model_aliases")),
            excluded=tuple(excluded),
            static_headers={**up.headers, **_file_headers(data)},
            auth_type="oauth",
            token=entry.token,
            adapter=up.adapter,
        )


def _file_headers(data: Mapping[str, Any]) -> dict[str, str]:
    headers = data.get("headers")
    if not isinstance(headers, dict):
        return {}
    return {str(k): v for k, v in headers.items() if isinstance(v, str) and not v.startswith("$")}


def now() -> float:
    return time.time()
