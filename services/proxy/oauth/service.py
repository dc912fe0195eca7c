"""The OAuth layer as the proxy app and the management API see it: one object, built once.

`OAuthService` owns the account pool (auth-dir files -> credentials), the refresher (the
executor's `Reauth`), the logins and their callback listeners, and answers the management
routes' questions (status of an account, its token for `api-call`, its quota).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from ..config.model import ProxyConfig
from ..routing.credentials import Credential
from ..upstream.sessions import UpstreamClients
from .accounts import AccountEntry, AccountPool
from .auth_files import AuthFileStore
from .forwarders import Forwarders
from .http import http_factory
from .logins import Callback, Logins, parse_redirect
from .provider import LoginError, OAuthProvider, QuotaReport, rfc3339
from .providers import PROVIDERS, by_name
from .refresh_lock import RefreshLocks
from .refresher import Refresher

log = structlog.get_logger(__name__)

TOKEN_SKEW = 30.0  # api-call refreshes a token that expires within this many seconds

CLOSE_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Login complete</title></head>"
    "<body><p>{message}</p><p>You can close this window.</p>"
    "<script>setTimeout(function(){{window.close()}},5000)</script></body></html>"
)


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """What the auth-file listing shows of an account's tokens."""

    status: str  # active | error | refreshing
    message: str
    unavailable: bool
    last_refresh: str | None
    expires_at: str | None
    next_retry: str | None
    auth_type: str = "oauth"


class OAuthService:
    def __init__(
        self,
        auth_dir: Path,
        max_file_bytes: int,
        upstream: UpstreamClients,
        config: Callable[[], ProxyConfig],
        *,
        on_accounts_changed: Callable[[], None] = lambda: None,
        on_refreshed: Callable[[list[str]], None] = lambda _ids: None,
        scan_interval: float = 0.25,
        refresh_interval: float = 5.0,
        shared_refresh: bool = False,
    ) -> None:
        self.config = config
        self.scan_interval = scan_interval
        self.refresh_interval = refresh_interval
        self.store = AuthFileStore(auth_dir, max_file_bytes)
        self.pool = AccountPool(self.store, on_accounts_changed)
        self.http = http_factory(upstream, lambda: config().proxy_url)
        self.refresher = Refresher(
            self.pool,
            self.http,
            workers=lambda: config().auth_auto_refresh_workers,
            on_refreshed=lambda entry: on_refreshed(self._credential_ids(entry)),
            # Worker processes share the auth files: one refresh per file among them.
            locks=RefreshLocks(auth_dir) if shared_refresh else None,
        )
        self.logins = Logins(self.pool, self.http, rewrite_url=upstream.overrides.rewrite_text)
        self.forwarders = Forwarders(
            self.logins.pending_types,
            lambda: config().oauth_callback_ports,
            lambda: config().host,
            self.callback_handler,
        )
        self.logins.on_change = self.forwarders.sync_soon

    # -- lifecycle ---------------------------------------------------------------------------

    def load(self) -> None:
        """First scan, before the first runtime is built (blocking, at start-up)."""
        self.pool.scan()

    def start(self) -> None:
        self.pool.start(self.scan_interval)
        self.refresher.start(self.refresh_interval)

    async def stop(self) -> None:
        await self.logins.close()
        await self.forwarders.close()
        await self.refresher.stop()
        await self.pool.stop()

    def credentials(self, config: ProxyConfig) -> list[Credential]:
        return self.pool.credentials(config)

    def _credential_ids(self, entry: AccountEntry) -> list[str]:
        return [c.id for c in self.pool.credentials(self.config()) if c.token is entry.token]

    # -- logins ------------------------------------------------------------------------------

    async def start_login(
        self, provider: OAuthProvider, *, web_ui: bool, options: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        _session, reply = await self.logins.start(provider, forward=web_ui, options=options)
        if web_ui and provider.info.flow == "redirect":
            await self.forwarders.sync()
            if provider.info.type not in self.forwarders.open:
                log.warning("oauth_callback_listener_missing", type=provider.info.type)
        return reply

    def callback_handler(self, kind: str) -> Callable[[web.Request], Any]:
        """The handler of a provider's main-port callback route and of its listener."""
        provider = PROVIDERS.get(kind)

        async def handle(request: web.Request) -> web.Response:
            query = request.query
            callback = Callback(
                query.get("code", ""),
                query.get("state", ""),
                query.get("error", "") or query.get("error_description", ""),
            )
            message = "Login received; finishing it in the proxy."
            try:
                self.logins.deliver(callback, provider)
            except (LookupError, ValueError, RuntimeError) as exc:
                message = f"Nothing to finish here: {exc}."
            page = CLOSE_PAGE.format(message=message)
            return web.Response(text=page, content_type="text/html", headers=_NO_STORE)

        return handle

    @staticmethod
    def parse_pasted(redirect_url: str) -> Callback:
        return parse_redirect(redirect_url)

    # -- accounts ----------------------------------------------------------------------------

    def status_of(self, auth_index: str) -> AccountStatus | None:
        entry = self.pool.by_index(auth_index)
        if entry is None or entry.provider is None:
            return None
        token = entry.token
        return AccountStatus(
            status=token.status,
            message=token.status_message,
            unavailable=token.unavailable,
            last_refresh=rfc3339(token.last_refresh) if token.last_refresh else None,
            expires_at=rfc3339(token.expires_at) if token.expires_at else None,
            next_retry=rfc3339(token.next_retry) if token.next_retry else None,
        )

    async def token_for(self, auth_index: str) -> str | None:
        """The account's access token for `api-call`, refreshed first when it is about to
        expire; None when `auth_index` is no OAuth account. LoginError when unusable."""
        entry = self.pool.by_index(auth_index)
        if entry is None:
            return None
        token = entry.token
        if token.unavailable:
            raise LoginError(token.status_message or "the account needs a new login")
        expiring = bool(token.expires_at) and token.expires_at - time.time() <= TOKEN_SKEW
        if expiring and not await self.refresher.refresh(entry):
            raise LoginError("auth token refresh failed")
        return token.access_token

    async def quota(self, auth_index: str) -> tuple[AccountEntry, QuotaReport]:
        """The account's quota windows; LookupError (unknown account), NotSupported, LoginError."""
        entry = self.pool.by_index(auth_index)
        if entry is None or entry.provider is None:
            raise LookupError("auth not found")
        token = await self.token_for(auth_index)
        http = self.http(str(entry.data.get("proxy_url") or ""))
        report = await entry.provider.quota(http, entry.account(), token or "")
        return entry, report

    def provider(self, name: str) -> OAuthProvider | None:
        return by_name(name)


_NO_STORE = {"Cache-Control": "no-store"}
