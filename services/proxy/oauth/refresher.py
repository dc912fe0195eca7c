"""Token upkeep of OAuth accounts: background refresh ahead of expiry, refresh at request time.

- Background: every `interval` seconds, each account whose token expires within its provider's
  lead (or whose `refresh_interval_seconds` elapsed) is refreshed, at most `workers` at once.
  Cooling accounts are refreshed too (unlike CLIProxyAPI, its issue #2556), so an account is
  usable the moment its quota resets.
- Single flight: one refresh per account at a time; concurrent callers await the same one
  (rotating providers revoke a refresh token on use, so a second refresh would fail).
- A retryable failure (5xx, network) is tried 3 times (1 s, 2 s apart), then again after 5 min;
  a 429 waits its Retry-After (5 s to 5 min). A rejected refresh token (`invalid_grant`) marks
  the account unavailable with the provider's message and is never retried: it needs a new
  login (or a new file, which the pool adopts).
- Success: the live token changes first (requests use it at once), then the file is written
  back atomically.
- Worker processes (`locks`): one refresh per auth file across processes; a worker that waited
  for another's refresh adopts the tokens it wrote instead of refreshing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from ..routing.credentials import Credential
from .accounts import AccountEntry, AccountPool
from .http import HttpFactory, TransportError
from .provider import NotSupported, Refreshed, RefreshFailed, RefreshRejected, rfc3339
from .refresh_lock import RefreshLocks

log = structlog.get_logger(__name__)

RETRY_AFTER_FAILURE = 300.0
RETRY_DELAYS = (1.0, 2.0)
MIN_PAUSE, MAX_PAUSE = 5.0, 300.0


class Refresher:
    def __init__(
        self,
        pool: AccountPool,
        http: HttpFactory,
        *,
        workers: Callable[[], int] = lambda: 16,
        on_refreshed: Callable[[AccountEntry], None] = lambda _e: None,
        clock: Callable[[], float] = time.time,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        locks: RefreshLocks | None = None,
    ) -> None:
        self.pool = pool
        self.http = http
        self.workers = workers
        self.on_refreshed = on_refreshed
        self.clock = clock
        self.retry_delays = retry_delays
        self.locks = locks
        self._flights: dict[int, asyncio.Task[bool]] = {}
        self._task: asyncio.Task[None] | None = None

    # -- request time (the executor's Reauth) ------------------------------------------------

    async def ensure_fresh(self, cred: Credential) -> None:
        entry = self._entry(cred)
        if entry is not None and not entry.token.unavailable:
            await self.refresh(entry)

    async def after_unauthorized(self, cred: Credential, used_token: str) -> bool:
        token = cred.token
        if token is None or token.unavailable:
            return False
        if token.access_token != used_token:
            return True  # another request already replaced it
        entry = self._entry(cred)
        if entry is None:
            return False
        # Not forced: after a failed refresh the account waits out its back-off instead of
        # every request paying for another round of attempts (the 401 cools it meanwhile).
        return await self.refresh(entry) and token.access_token != used_token

    def _entry(self, cred: Credential) -> AccountEntry | None:
        return self.pool.by_token(cred.token) if cred.token is not None else None

    # -- single flight -----------------------------------------------------------------------

    async def refresh(self, entry: AccountEntry, *, force: bool = False) -> bool:
        """Refresh `entry` (joining a refresh already running); True on success."""
        key = id(entry.token)
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.get_running_loop().create_task(self._run(entry, force))
            self._flights[key] = flight
            flight.add_done_callback(lambda _t: self._flights.pop(key, None))
        return await asyncio.shield(flight)

    async def _run(self, entry: AccountEntry, force: bool) -> bool:
        if not force and entry.failed_until > self.clock():
            return False
        if self.locks is None:
            return await self._refresh_now(entry)
        used = entry.token.access_token
        async with self.locks.hold(entry.name):
            await self.pool.rescan()  # another worker may have refreshed while we waited
            current = self.pool.entries.get(entry.name)
            if current is None or current.token is not entry.token:
                return False  # the file went away or was replaced meanwhile
            if not force and current.token.access_token != used:
                log.info("oauth_refreshed_by_another_worker", name=entry.name)
                self.on_refreshed(current)  # ends this worker's 401 cooldowns of the old token
                return True
            return await self._refresh_now(current)

    async def _refresh_now(self, entry: AccountEntry) -> bool:
        for attempt, delay in enumerate((*self.retry_delays, None)):
            try:
                refreshed = await self._attempt(entry)
            except RefreshFailed as exc:
                if exc.retry_after is not None or not exc.retryable or delay is None:
                    self._failed(entry, str(exc), exc.retry_after)
                    return False
                log.info("oauth_refresh_retry", name=entry.name, attempt=attempt + 1)
                await asyncio.sleep(delay)  # backing off before the next attempt
                continue
            except RefreshRejected as exc:
                self._rejected(entry, str(exc))
                return False
            except NotSupported:
                return False
            await self._succeeded(entry, refreshed)
            return True
        return False

    async def _attempt(self, entry: AccountEntry) -> Refreshed:
        assert entry.provider is not None
        http = self.http(_proxy_of(entry))
        try:
            return await entry.provider.refresh(http, entry.account())
        except TransportError as exc:
            raise RefreshFailed(str(exc), retryable=True) from None

    async def _succeeded(self, entry: AccountEntry, refreshed: Refreshed) -> None:
        token, new = entry.token, refreshed.tokens
        token.access_token = new.access_token
        token.refresh_token = new.refresh_token or token.refresh_token
        token.expires_at = new.expires_at
        token.last_refresh = new.last_refresh or self.clock()
        token.status, token.status_message, token.next_retry = "active", "", 0.0
        entry.refresh_failures, entry.failed_until = 0, 0.0
        updates = {"last_refresh": rfc3339(token.last_refresh), **refreshed.updates}
        log.info("oauth_refreshed", name=entry.name, expires=rfc3339(token.expires_at))
        await self.pool.write_back(entry, updates)
        self.on_refreshed(entry)

    def _failed(self, entry: AccountEntry, message: str, retry_after: float | None) -> None:
        pause = RETRY_AFTER_FAILURE
        if retry_after is not None:
            pause = min(max(retry_after, MIN_PAUSE), MAX_PAUSE)
        entry.refresh_failures += 1
        entry.failed_until = self.clock() + pause
        entry.token.next_retry = entry.failed_until
        entry.token.status_message = f"token refresh failed: {message}"
        log.warning("oauth_refresh_failed", name=entry.name, reason=message[:200])

    def _rejected(self, entry: AccountEntry, message: str) -> None:
        token = entry.token
        token.unavailable = True
        token.status = "error"
        token.status_message = message or "refresh token rejected; sign in again"
        token.next_retry = 0.0
        log.warning("oauth_refresh_rejected", name=entry.name, reason=token.status_message[:200])

    # -- background --------------------------------------------------------------------------

    def due(self, entry: AccountEntry, now: float) -> bool:
        """True when the background loop should refresh this account now."""
        token, provider = entry.token, entry.provider
        if provider is None or entry.disabled or token.unavailable or not token.refresh_token:
            return False
        if entry.failed_until > now:
            return False
        if token.expires_at and token.expires_at - now <= provider.info.refresh_lead:
            return True
        interval = entry.data.get("refresh_interval_seconds")
        if isinstance(interval, int) and not isinstance(interval, bool) and interval > 0:
            return bool(token.last_refresh) and now - token.last_refresh >= interval
        return False

    async def tick(self) -> int:
        """One pass of the background loop; returns how many accounts it refreshed."""
        now = self.clock()
        due = [e for e in list(self.pool.entries.values()) if self.due(e, now)]
        if not due:
            return 0
        gate = asyncio.Semaphore(max(1, self.workers()))

        async def one(entry: AccountEntry) -> bool:
            async with gate:
                return await self.refresh(entry)

        results = await asyncio.gather(*(one(e) for e in due), return_exceptions=True)
        return sum(1 for r in results if r is True)

    async def loop(self, interval: float) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("oauth_refresh_loop_failed")
            await asyncio.sleep(interval)  # a periodic check: nothing else to await

    def start(self, interval: float = 5.0) -> None:
        self._task = asyncio.get_running_loop().create_task(self.loop(interval))

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._flights.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _proxy_of(entry: AccountEntry) -> str:
    value = entry.data.get("proxy_url")
    return value.strip() if isinstance(value, str) else ""
