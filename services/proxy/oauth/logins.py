"""Logins: the session store, the redirect and device flows, and saving the new account.

A login is a `LoginSession` keyed by its `state` (32 random hex characters after the provider's
prefix: the state is the only secret of the pasted-URL route, so it is never a timestamp). A
redirect login waits for its code (main-port callback, callback forwarder, pasted URL or the
command line), exchanges it and saves the auth file; a device login polls the provider. Pending
sessions live 30 minutes, finished ones 1 minute (so status polls still see the outcome).
Codes go from the callback to the waiting flow in memory; nothing is written for an unknown or
finished state.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import orjson
import structlog

from .accounts import AccountPool
from .http import HttpFactory, TransportError
from .provider import (
    Authorization,
    DeviceAuthorization,
    LoginError,
    NewAccount,
    NotSupported,
    OAuthProvider,
)

log = structlog.get_logger(__name__)

PENDING_TTL = 30 * 60.0
DONE_TTL = 60.0
CALLBACK_TIMEOUT = 5 * 60.0
SLOW_DOWN_STEP = 5.0
_STATE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")

Status = Literal["wait", "ok", "error"]


class StateInvalid(ValueError):
    pass


def valid_state(state: str) -> bool:
    return bool(_STATE.match(state)) and ".." not in state


def new_state(provider: OAuthProvider) -> str:
    return provider.info.state_prefix + secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class Callback:
    code: str = field(default="", repr=False)
    state: str = ""
    error: str = ""


def parse_redirect(url: str) -> Callback:
    """code, state and error of a pasted redirect URL (query or fragment), or Claude's
    manual `code#state`."""
    url = url.strip()
    parts = urlsplit(url)
    query = parse_qs(parts.query) or parse_qs(parts.fragment)
    if not query and "#" in url and "=" not in url:
        code, _, state = url.partition("#")
        return Callback(code.strip(), state.strip())

    def first(name: str) -> str:
        return (query.get(name) or [""])[0].strip()

    return Callback(first("code"), first("state"), first("error") or first("error_description"))


@dataclass(slots=True)
class LoginSession:
    state: str
    provider: OAuthProvider
    expires: float
    status: Status = "wait"
    message: str = ""
    file_name: str = ""
    forward: bool = False  # a web login: the callback listener on the provider's port is open
    authorization: Authorization | None = field(default=None, repr=False)
    device: DeviceAuthorization | None = field(default=None, repr=False)
    code: asyncio.Future[Callback] | None = field(default=None, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def pending(self) -> bool:
        return self.status == "wait"


class Logins:
    """Every login in progress; see the module docstring."""

    def __init__(
        self,
        pool: AccountPool,
        http: HttpFactory,
        *,
        rewrite_url: Callable[[str], str] = lambda u: u,
        clock: Callable[[], float] = time.monotonic,
        callback_timeout: float = CALLBACK_TIMEOUT,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.pool = pool
        self.http = http
        self.rewrite_url = rewrite_url
        self.clock = clock
        self.callback_timeout = callback_timeout
        self.on_change = on_change  # a session started or ended (forwarders follow)
        self.sessions: dict[str, LoginSession] = {}

    # -- lookups -----------------------------------------------------------------------------

    def _expire(self) -> None:
        now = self.clock()
        for state in [s for s, sess in self.sessions.items() if sess.expires <= now]:
            self._drop(self.sessions.pop(state))

    def _drop(self, session: LoginSession) -> None:
        if session.task is not None and not session.task.done():
            session.task.cancel()
        if session.pending:
            session.status, session.message = "error", "login expired"

    def get(self, state: str) -> LoginSession | None:
        self._expire()
        return self.sessions.get(state)

    def pending_types(self) -> set[str]:
        """Auth-file types with a redirect login waiting for its code (forwarders open)."""
        self._expire()
        return {
            s.provider.info.type
            for s in self.sessions.values()
            if s.pending and s.forward and s.provider.info.flow == "redirect"
        }

    # -- starting ----------------------------------------------------------------------------

    async def start(
        self,
        provider: OAuthProvider,
        *,
        forward: bool = False,
        options: Mapping[str, str] | None = None,
    ) -> tuple[LoginSession, dict[str, Any]]:
        """A new login; returns the session and the starter's reply body. `options` (the
        starter's query, such as Gemini CLI's `project_id`) reach the provider's exchange in
        `Authorization.extra`."""
        self._expire()
        state = new_state(provider)
        session = LoginSession(state, provider, self.clock() + PENDING_TTL, forward=forward)
        if provider.info.flow == "device":
            device = await provider.device_start(self.http(""))
            session.device = device
            reply: dict[str, Any] = {
                "status": "ok",
                "url": self.rewrite_url(device.url),
                "state": state,
                "flow": "device",
                "user_code": device.user_code,
                "expires_in": int(device.expires_in),
            }
            worker = self._device_worker(session)
        else:
            authorization = provider.authorize(state)
            if options:
                authorization = replace(authorization, extra={**authorization.extra, **options})
            session.authorization = authorization
            session.code = asyncio.get_running_loop().create_future()
            reply = {
                "status": "ok",
                "url": self.rewrite_url(session.authorization.url),
                "state": state,
            }
            worker = self._redirect_worker(session)
        self.sessions[state] = session
        session.task = asyncio.get_running_loop().create_task(worker)
        self.on_change()
        log.info("oauth_login_started", provider=provider.info.type, flow=provider.info.flow)
        return session, reply

    # -- the code arrives --------------------------------------------------------------------

    def deliver(self, callback: Callback, provider: OAuthProvider | None = None) -> LoginSession:
        """Hand a callback to its waiting login. Raises LookupError (unknown or expired state),
        ValueError (provider mismatch) or RuntimeError (finished: ok or error) for the routes."""
        if not valid_state(callback.state):
            raise StateInvalid("invalid state")
        session = self.get(callback.state)
        if session is None or session.code is None:
            raise LookupError("unknown or expired state")
        if provider is not None and provider is not session.provider:
            raise ValueError("provider does not match state")
        if not session.pending or session.code.done():
            raise RuntimeError(
                "oauth flow is already completed" if session.status != "error" else session.message
            )
        session.code.set_result(callback)
        return session

    # -- workers -----------------------------------------------------------------------------

    async def _redirect_worker(self, session: LoginSession) -> None:
        assert session.code is not None and session.authorization is not None
        try:
            async with asyncio.timeout(self.callback_timeout):
                callback = await session.code
        except TimeoutError:
            self._finish(session, "error", "Timeout waiting for OAuth callback")
            return
        if callback.error:
            self._finish(session, "error", f"authorization failed: {callback.error[:200]}")
            return
        await self._complete(session, self._exchange(session, callback))

    async def _exchange(self, session: LoginSession, callback: Callback) -> NewAccount:
        assert session.authorization is not None
        return await exchange_code(
            session.provider, self.http(""), session.authorization, callback, session.state
        )

    async def _device_worker(self, session: LoginSession) -> None:
        assert session.device is not None
        await self._complete(session, poll_device(session.provider, self.http(""), session.device))

    async def _complete(self, session: LoginSession, pending: Any) -> None:
        try:
            account: NewAccount = await pending
        except (LoginError, NotSupported) as exc:
            self._finish(session, "error", str(exc))
            return
        except TransportError as exc:
            self._finish(session, "error", f"login failed: {exc}")
            return
        except Exception as exc:  # a provider's bug must end the login, not leave it waiting
            log.exception("oauth_login_crashed", provider=session.provider.info.type)
            self._finish(session, "error", f"login failed: {type(exc).__name__}")
            return
        if not session.pending:
            return  # cancelled meanwhile: a cancelled login never writes a file
        try:
            await save_account(self.pool, account)
        except OSError as exc:
            self._finish(session, "error", f"could not save the auth file: {type(exc).__name__}")
            return
        session.file_name = account.name
        self._finish(session, "ok", "")

    def _finish(self, session: LoginSession, status: Status, message: str) -> None:
        session.status, session.message = status, message
        session.expires = self.clock() + DONE_TTL
        self.on_change()
        log.info(
            "oauth_login_finished",
            provider=session.provider.info.type,
            status=status,
            reason=message[:200],
        )

    def cancel(self, state: str) -> bool:
        session = self.get(state)
        if session is None or not session.pending:
            return False
        self._finish(session, "error", "login cancelled")
        if session.task is not None:
            session.task.cancel()
        return True

    async def close(self) -> None:
        tasks = [s.task for s in self.sessions.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def exchange_code(
    provider: OAuthProvider,
    http: Any,
    authorization: Authorization,
    callback: Callback,
    session_state: str,
) -> NewAccount:
    """The provider's exchange, after checking the callback's state."""
    if not callback.code:
        raise LoginError("the callback carries no code")
    if callback.state and callback.state != session_state:
        raise LoginError("state mismatch")
    account: NewAccount = await provider.exchange(
        http, authorization, callback.code, callback.state or session_state
    )
    return account


async def poll_device(
    provider: OAuthProvider, http: Any, device: DeviceAuthorization, sleep: Any = asyncio.sleep
) -> NewAccount:
    """Poll until the user approves (RFC 8628 §3.4-3.5: slow_down adds 5 s for good)."""
    interval = max(device.interval, 1.0)
    deadline = time.monotonic() + device.expires_in
    while time.monotonic() < deadline:
        await sleep(interval)  # the interval the provider asked for between polls
        poll = await provider.device_poll(http, device)
        if poll.outcome == "done" and poll.account is not None:
            return poll.account
        if poll.outcome == "slow_down":
            interval += SLOW_DOWN_STEP
        elif poll.outcome in ("denied", "expired"):
            raise LoginError(poll.message or f"device login {poll.outcome}")
    raise LoginError("device code expired")


async def save_account(pool: AccountPool, account: NewAccount) -> None:
    """Write the new auth file (atomically, 0600) and make it live now."""
    raw = orjson.dumps(account.data, option=orjson.OPT_INDENT_2)
    async with pool.lock:
        await asyncio.to_thread(pool.store.write, account.name, raw)
    await pool.rescan()
    log.info("oauth_account_saved", name=account.name)
