"""Connects the management API to the running proxy: credentials, stats, cooldowns, outbox,
and the file logs it manages (`main.log`, `error-*.log`, the size janitor)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from ..config.loader import LoadedConfig
from ..config.paths import ProxyPaths
from ..config.store import ConfigStore
from ..oauth.providers import PROVIDERS
from ..oauth.service import OAuthService
from ..observability.logfiles import ErrorLogWriter, MainLogHandler, run_log_janitor
from ..routing.cooldowns import Cooldowns
from ..routing.registry import served_models
from ..routing.runtime import RuntimeHolder
from ..upstream.sessions import UpstreamClients
from ..usage.outbox import Outbox
from ..usage.stats import CredentialStats
from . import (
    AuthStats,
    CredentialInfo,
    ManagementContext,
    ModelInfo,
    RequestBucket,
    management_middleware,
    management_routes,
)

VERSION = "0.1.0"


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ManagementBridge:
    """Answers the management API's questions from the live runtime objects."""

    def __init__(
        self,
        holder: RuntimeHolder,
        cooldowns: Cooldowns,
        stats: CredentialStats,
        oauth: OAuthService | None = None,
    ) -> None:
        self.holder = holder
        self.cooldowns = cooldowns
        self.stats = stats
        self.oauth = oauth

    def credential_for(self, auth_index: str) -> CredentialInfo | None:
        cred = self.holder.current.credential(auth_index)
        if cred is None:
            return None
        if cred.token is None:
            return CredentialInfo(cred.provider, cred.base_url, cred.secret, cred.proxy_url)
        provider = PROVIDERS.get(cred.provider)
        hosts = provider.info.api_hosts if provider is not None else ()
        return CredentialInfo(cred.provider, cred.base_url, "", cred.proxy_url, hosts, oauth=True)

    def auth_stats(self, auth_index: str) -> AuthStats:
        success, failed = self.stats.totals(auth_index)
        recent = tuple(
            RequestBucket(_stamp(start), ok, bad)
            for start, ok, bad in self.stats.recent(auth_index)
        )
        cooling = [c for c in self.cooldowns.active() if c["auth_index"] == auth_index]
        cred = self.holder.current.credential(auth_index)
        served = len(served_models(cred)) if cred is not None else 0
        nearest = min((float(str(c["until"])) for c in cooling), default=None)
        stats = AuthStats(
            success=success,
            failed=failed,
            recent_requests=recent,
            unavailable=bool(served) and len(cooling) >= served,
            status_message=f"{len(cooling)} model(s) cooling down" if cooling else "",
            next_retry_after=_stamp(nearest) if nearest is not None else None,
        )
        account = self.oauth.status_of(auth_index) if self.oauth is not None else None
        if account is None:
            return stats
        return replace(
            stats,
            unavailable=stats.unavailable or account.unavailable,
            status_message=account.message or stats.status_message,
            last_refresh=account.last_refresh,
            expires_at=account.expires_at,
            next_retry_after=stats.next_retry_after or account.next_retry,
        )

    def models_for(self, auth_index: str) -> list[ModelInfo]:
        cred = self.holder.current.credential(auth_index)
        if cred is None:
            return []
        return [ModelInfo(public, public) for public, _ in served_models(cred)]


class FileLogs:
    """Turns `main.log` on and off with `logging-to-file`, and runs the size janitor."""

    def __init__(self, paths: ProxyPaths, store: ConfigStore) -> None:
        self.paths = paths
        self.store = store
        self.handler: MainLogHandler | None = None
        self._janitor: asyncio.Task[None] | None = None
        self.errors = ErrorLogWriter(paths.logs, lambda: store.current.config.error_logs_max_files)

    def apply(self, loaded: LoadedConfig) -> None:
        root = logging.getLogger()
        if loaded.config.logging_to_file and self.handler is None:
            self.handler = MainLogHandler(self.paths.logs)
            root.addHandler(self.handler)
        elif not loaded.config.logging_to_file and self.handler is not None:
            root.removeHandler(self.handler)
            self.handler.close()
            self.handler = None

    def start(self) -> None:
        self.apply(self.store.current)
        self.store.subscribe(self.apply)
        self._janitor = asyncio.get_running_loop().create_task(
            run_log_janitor(self.paths.logs, self._max_total_mb)
        )

    def _max_total_mb(self) -> int:
        return self.store.current.config.logs_max_total_size_mb

    async def stop(self) -> None:
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
        if self.handler is not None:
            logging.getLogger().removeHandler(self.handler)
            self.handler.close()


def install_management(
    app: web.Application,
    *,
    store: ConfigStore,
    paths: ProxyPaths,
    management_key: Callable[[], str | None],
    bridge: ManagementBridge,
    outbox: Outbox,
    upstream: UpstreamClients,
    oauth: OAuthService | None = None,
) -> FileLogs:
    """Add the management middleware and routes; returns the file-log manager to start."""

    def session() -> aiohttp.ClientSession:
        return upstream.default

    ctx = ManagementContext(
        store=store,
        management_key=management_key,
        auth_dir=paths.auths,
        logs_dir=paths.logs,
        reset_cooldowns=bridge.cooldowns.reset,
        credential_for=bridge.credential_for,
        usage_pop=outbox.pop,
        http_session=session,
        auth_stats=bridge.auth_stats,
        models_for=bridge.models_for,
        version=VERSION,
        oauth=oauth,
    )
    app.middlewares.append(management_middleware(ctx))
    app.add_routes(management_routes(ctx))
    return FileLogs(paths, store)
