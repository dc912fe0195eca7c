"""The authorization-server side every provider fake shares, per RFC 6749 (authorize, code
exchange, refresh), RFC 7636 (PKCE S256) and RFC 8628 (device codes), plus accounts, scripted
replies and scripted faults. A provider subclass adds its origins' routes, its token response
and its error shapes (oauth-providers.md §2-§7 and §11).
"""

from __future__ import annotations

import base64
import html
import secrets
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import unquote_plus, urlencode

from aiohttp import web

from tests.fakes.oauth.recording import REC, Recorded, RequestLog
from tests.fakes.oauth.state import (
    AccessGrant,
    Account,
    CodeGrant,
    DeviceGrant,
    DevicePolicy,
    Fault,
    Grants,
    TokenSet,
    s256,
    token,
)
from tests.fakes.wire_base import Reply

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
Routes = dict[str, list[web.RouteDef]]  # real origin -> routes


@dataclass(frozen=True)
class Client:
    """An OAuth client the provider has registered (its public id, redirect URI, scopes)."""

    name: str  # auth-file type this client logs in: claude, codex, antigravity, gemini, ...
    id: str
    redirect_uris: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    pkce: Literal["required", "optional"] = "required"
    secret: str | None = None
    body: Literal["json", "form"] = "form"  # the token endpoint's request encoding


def oauth_error(
    status: int, error: str, description: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """The RFC 6749 §5.2 error body."""
    body = {"error": error, "error_description": description}
    return web.json_response(body, status=status, headers=headers)


def error_page(status: int, message: str) -> web.Response:
    """What a browser sees when the authorize request cannot be redirected (RFC 6749 §4.1.2.1)."""
    text = f"<!doctype html><title>Error</title><h1>{html.escape(message)}</h1>"
    return web.Response(status=status, text=text, content_type="text/html")


def basic_credentials(rec: Recorded) -> dict[str, str]:
    """client_id and client_secret from HTTP Basic auth (RFC 6749 §2.3.1), if sent that way."""
    scheme, _, value = rec.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return {}
    try:
        client_id, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except ValueError:  # malformed base64 or not UTF-8: no credentials
        return {}
    return {"client_id": unquote_plus(client_id), "client_secret": unquote_plus(secret)}


def redirect(uri: str, **params: str) -> web.Response:
    sep = "&" if "?" in uri else "?"
    location = uri + sep + urlencode({k: v for k, v in params.items() if v})
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


class Provider:
    """One provider's fake services. Subclasses set the class attributes and `routes()`."""

    name: ClassVar[str]
    clients: ClassVar[tuple[Client, ...]]
    access_ttl: int = 3600  # expires_in of issued access tokens; tests may shorten it
    rotates_refresh: ClassVar[bool] = True  # False: refresh answers omit refresh_token
    token_prefix: ClassVar[tuple[str, str]] = ("at-", "rt-")
    offline_by_access_type: ClassVar[bool] = False  # Google: refresh token only with offline
    device_grant_supported: ClassVar[bool] = False  # the token endpoint takes RFC 8628 polls

    def __init__(self, log: RequestLog) -> None:
        self.log = log
        self.grants = Grants()
        self.accounts: dict[str, Account] = {}
        self.replies: deque[Reply] = deque()
        self.device = DevicePolicy()
        self.consent: Literal["approve", "deny"] = "approve"
        self.last_redirect: str | None = None  # Location of the latest authorize answer
        self._signed_in: Account | None = None

    def routes(self) -> Routes:
        raise NotImplementedError

    # -- accounts -----------------------------------------------------------------------------

    def add_account(self, email: str | None = None, **fields: Any) -> Account:
        email = email or f"user{len(self.accounts) + 1}@{self.name}.test"
        account = Account(provider=self.name, email=email, **fields)
        account.quota = account.quota or self.default_quota(account)
        self.accounts[email] = account
        return account

    def account(self, email: str) -> Account:
        return self.accounts[email]

    def default_quota(self, account: Account) -> dict[str, Any]:
        return {}

    def sign_in(self, account: Account) -> None:
        """The browser user: who the next authorize or device approval logs in."""
        self._signed_in = account

    @property
    def signed_in(self) -> Account:
        if self._signed_in is None:
            self._signed_in = next(iter(self.accounts.values()), None) or self.add_account()
        return self._signed_in

    # -- tokens -------------------------------------------------------------------------------

    def client(self, name_or_id: str | None = None) -> Client:
        for client in self.clients:
            if name_or_id in (None, client.name, client.id):
                return client
        raise KeyError(name_or_id)

    def issue(
        self,
        account: Account,
        client: str | None = None,
        *,
        ttl: int | None = None,
        scope: str | None = None,
        refresh: bool = True,
    ) -> TokenSet:
        """Issue tokens as a login would (a test can seed an auth file with them)."""
        spec = self.client(client)
        access, refresh_prefix = self.token_prefix
        tokens = TokenSet(
            account=account,
            client=spec.name,
            access_token=token(access),
            refresh_token=token(refresh_prefix) if refresh else None,
            expires_in=self.access_ttl if ttl is None else ttl,
            scope=" ".join(sorted(spec.scopes)) if scope is None else scope,
        )
        tokens.id_token = self.id_token(tokens)
        return self.grants.issue(tokens)

    def id_token(self, tokens: TokenSet) -> str | None:
        return None

    def token_body(self, tokens: TokenSet) -> dict[str, Any]:
        """The provider's token response for `tokens` (refresh_token left out when None)."""
        body: dict[str, Any] = {
            "access_token": tokens.access_token,
            "token_type": "Bearer",
            "expires_in": tokens.expires_in,
            "scope": tokens.scope,
        }
        if tokens.refresh_token:
            body["refresh_token"] = tokens.refresh_token
        if tokens.id_token:
            body["id_token"] = tokens.id_token
        return body

    def expire_now(self, account: Account) -> None:
        """Every access token of `account` expires now (its refresh token stays good)."""
        self.grants.expire(account)

    def revoke(self, account: Account) -> None:
        """The user revoked access: access and refresh tokens of `account` stop working."""
        self.grants.revoke(account)

    # -- scripting ----------------------------------------------------------------------------

    def push(self, *replies: Reply) -> None:
        """Answer the next inference requests (any account) with these replies, in order."""
        self.replies.extend(replies)

    def next_reply(self, account: Account) -> Reply:
        if self.replies:
            return self.replies.popleft()
        return Reply(text=f"Hello from {self.name} account {account.email}.")

    def fail(
        self,
        account: Account,
        stage: Literal["inference", "refresh", "quota"],
        status: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
        *,
        times: int | None = 1,
        until: float | None = None,
    ) -> None:
        """Answer `account`'s next `times` requests at `stage` with this status and JSON body."""

        def respond() -> web.Response:
            return web.json_response(body, status=status, headers=headers)

        account.faults.append(Fault(stage, respond, times, until))

    def fail_refresh(
        self,
        account: Account,
        kind: Literal["invalid_grant", "server_error", "rate_limited"] = "invalid_grant",
        *,
        times: int | None = 1,
        retry_after: int = 30,
    ) -> None:
        """Make `account`'s next refreshes fail the way this provider's token endpoint does."""
        account.faults.append(
            Fault("refresh", lambda: self.refresh_error(kind, retry_after), times)
        )

    def refresh_error(self, kind: str, retry_after: int) -> web.Response:
        if kind == "invalid_grant":
            return oauth_error(400, "invalid_grant", "Refresh token is invalid or revoked.")
        if kind == "rate_limited":
            headers = {"Retry-After": str(retry_after)}
            return oauth_error(429, "rate_limit_exceeded", "Too many requests.", headers)
        return oauth_error(503, "server_error", "The server is temporarily unavailable.")

    def clear_faults(self, account: Account) -> None:
        account.faults.clear()

    def set_device_policy(self, **fields: Any) -> None:
        self.device = DevicePolicy(**fields)

    # -- authorize (RFC 6749 §4.1.1, RFC 7636 §4.3) --------------------------------------------

    async def authorize(self, request: web.Request) -> web.Response:
        rec: Recorded = request[REC]
        query = rec.query
        rec.label(self.name, "authorize")
        client = next((c for c in self.clients if c.id == query.get("client_id")), None)
        if client is None:
            return error_page(400, "invalid_client: unknown client_id")
        uri = query.get("redirect_uri", "")
        if uri not in client.redirect_uris:
            return error_page(400, "invalid_request: redirect_uri is not registered")
        state = query.get("state", "")
        problem = self.authorize_problem(client, query)
        if problem:
            error, description = problem
            return redirect(uri, error=error, error_description=description, state=state)
        if self.consent == "deny":
            return redirect(uri, error="access_denied", state=state)
        account = self.signed_in
        rec.label(client.name, "authorize", account)
        code = token("ac_", 24)
        self.grants.codes[code] = CodeGrant(
            account=account,
            client=client.name,
            redirect_uri=uri,
            scope=query.get("scope", ""),
            state=state,
            challenge=query.get("code_challenge"),
            offline=query.get("access_type") == "offline" or not self.offline_by_access_type,
        )
        response = redirect(uri, code=code, state=state)
        self.last_redirect = response.headers["Location"]
        return response

    def authorize_problem(self, client: Client, query: Mapping[str, str]) -> tuple[str, str] | None:
        if query.get("response_type") != "code":
            return "unsupported_response_type", "response_type must be code"
        scopes = set(query.get("scope", "").split())
        if not scopes or not scopes <= client.scopes:
            return "invalid_scope", f"unknown or missing scope: {sorted(scopes - client.scopes)}"
        challenge = query.get("code_challenge")
        if client.pkce == "required" and not challenge:
            return "invalid_request", "code_challenge is required"
        if challenge and query.get("code_challenge_method") != "S256":
            return "invalid_request", "code_challenge_method must be S256"
        return None

    async def device_page(self, request: web.Request) -> web.Response:
        """The verification page: visiting it with the user code approves (or denies) the login."""
        rec: Recorded = request[REC]
        rec.label(self.name, "verify")
        code = rec.query.get("user_code") or rec.query.get("code") or ""
        grant = next((g for g in self.grants.devices.values() if g.user_code == code), None)
        if grant is None or grant.status != "pending":
            return error_page(404, "Unknown or used code")
        grant.account = self.signed_in
        grant.status = "approved" if self.consent == "approve" else "denied"
        rec.label(self.name, "verify", grant.account)
        return web.Response(text=f"Device {grant.status}.", content_type="text/html")

    # -- token endpoint (RFC 6749 §4.1.3, §6; RFC 8628 §3.4) -----------------------------------

    async def token_endpoint(self, request: web.Request) -> web.Response:
        rec: Recorded = request[REC]
        rec.label(self.name, "exchange")
        form = {**basic_credentials(rec), **(rec.body if isinstance(rec.body, dict) else {})}
        client = next((c for c in self.clients if c.id == form.get("client_id")), None)
        if client is None:
            return self.client_error("unknown client_id")
        rec.label(client.name, "exchange")
        if rec.encoding != client.body:
            enc = "application/json" if client.body == "json" else "form-urlencoded"
            return oauth_error(400, "invalid_request", f"the request body must be {enc}")
        if client.secret is not None and form.get("client_secret") != client.secret:
            return self.client_error("client_secret is missing or wrong")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self.exchange(rec, client, form)
        if grant_type == "refresh_token":
            return self.refresh(rec, client, form)
        if grant_type == DEVICE_GRANT and self.device_grant_supported:
            return self.device_token(rec, form)
        return oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type!r}")

    def client_error(self, description: str) -> web.Response:
        return oauth_error(401, "invalid_client", description)

    def exchange(self, rec: Recorded, client: Client, form: Mapping[str, str]) -> web.Response:
        code = form.get("code", "")
        grant = self.grants.codes.get(code)
        if not code:
            return oauth_error(400, "invalid_request", "code is required")
        if grant is None or grant.used or grant.client != client.name:
            return self.grant_error("invalid authorization code")
        rec.label(client.name, "exchange", grant.account)
        if time.time() >= grant.expires_at:
            return self.grant_error("authorization code expired")
        if form.get("redirect_uri") != grant.redirect_uri:
            return self.grant_error("redirect_uri does not match the authorization request")
        if grant.challenge and s256(form.get("code_verifier", "")) != grant.challenge:
            return self.grant_error("code_verifier does not match the code_challenge")
        problem = self.exchange_problem(grant, form)
        if problem:
            return problem
        grant.used = True
        tokens = self.issue(grant.account, client.name, scope=grant.scope, refresh=grant.offline)
        return web.json_response(self.token_body(tokens))

    def exchange_problem(self, grant: CodeGrant, form: Mapping[str, str]) -> web.Response | None:
        return None

    def grant_error(self, description: str) -> web.Response:
        return oauth_error(400, "invalid_grant", description)

    def refresh(self, rec: Recorded, client: Client, form: Mapping[str, str]) -> web.Response:
        rec.label(client.name, "refresh")
        old = form.get("refresh_token", "")
        grant = self.grants.refresh.get(old)
        if grant is None or grant.client != client.name:
            return self.grant_error("refresh token not found")
        rec.label(client.name, "refresh", grant.account)
        if grant.revoked:
            return self.reused_error() if grant.reused else self.grant_error("token revoked")
        scripted = grant.account.fault("refresh")
        if scripted is not None:
            return scripted
        previous = self.grants.access[grant.last_access]
        rec.notes.update(expires_at=previous.expires_at, expired=time.time() >= previous.expires_at)
        tokens = self.issue(
            grant.account, client.name, scope=grant.scope, refresh=self.rotates_refresh
        )
        if self.rotates_refresh:
            grant.revoked = grant.reused = True
        else:
            grant.last_access = tokens.access_token
        return web.json_response(self.token_body(tokens))

    def reused_error(self) -> web.Response:
        return self.grant_error("refresh token was already used")

    # -- device codes (RFC 8628) --------------------------------------------------------------

    def start_device(
        self, client: Client, verification_uri: str
    ) -> tuple[DeviceGrant, dict[str, Any]]:
        """Open a device login; returns the grant and the RFC 8628 §3.2 response body."""
        policy = self.device
        grant = DeviceGrant(
            device_code=token("dc_", 24),
            user_code=f"{secrets.token_hex(2).upper()}-{secrets.token_hex(2).upper()}",
            client=client.name,
            interval=policy.interval,
            expires_at=time.time() + policy.expires_in,
        )
        self.grants.devices[grant.device_code] = grant
        body = {
            "device_code": grant.device_code,
            "user_code": grant.user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?user_code={grant.user_code}",
            "expires_in": policy.expires_in,
            "interval": policy.interval,
        }
        return grant, body

    def poll_device(
        self, grant: DeviceGrant | None
    ) -> Literal["invalid", "expired", "slow_down", "denied", "pending", "approved"]:
        """One poll of a device login (RFC 8628 §3.5), with the fake user's scripted answer."""
        now = time.time()
        if grant is None or grant.status == "consumed":
            return "invalid"
        too_fast = grant.last_poll is not None and now - grant.last_poll < grant.interval * 0.9
        grant.last_poll = now
        if now >= grant.expires_at:
            return "expired"
        if too_fast:
            grant.interval += self.device.slow_down_step
            return "slow_down"
        grant.polls += 1
        policy = self.device
        waited = policy.pending_polls is not None and grant.polls > policy.pending_polls
        if grant.status == "pending" and waited:
            self.decide(grant, policy.outcome)
        if now >= grant.expires_at:
            return "expired"
        if grant.status == "approved":
            grant.status = "consumed"
            return "approved"
        return "denied" if grant.status == "denied" else "pending"

    def decide(self, grant: DeviceGrant, outcome: str) -> None:
        grant.account = grant.account or self.signed_in
        if outcome == "approve":
            grant.status = "approved"
        elif outcome == "access_denied":
            grant.status = "denied"
        else:
            grant.expires_at = 0.0  # the code ran out before the user acted

    def device_token(self, rec: Recorded, form: Mapping[str, str]) -> web.Response:
        """The RFC 8628 §3.5 answers of the token endpoint."""
        rec.label(self.name, "device_poll")
        grant = self.grants.devices.get(form.get("device_code", ""))
        outcome = self.poll_device(grant)
        if grant is not None and grant.account is not None:
            rec.label(self.name, "device_poll", grant.account)
        if outcome == "approved":
            assert grant is not None and grant.account is not None
            tokens = self.issue(grant.account, grant.client)
            return web.json_response(self.token_body(tokens))
        errors = {
            "invalid": ("invalid_grant", "unknown or used device_code"),
            "expired": ("expired_token", "the device code has expired"),
            "slow_down": ("slow_down", "polling too fast; the interval grew by 5 seconds"),
            "denied": ("access_denied", "the user denied the request"),
            "pending": ("authorization_pending", "the user has not approved yet"),
        }
        error, description = errors[outcome]
        return oauth_error(400, error, description)

    # -- resource servers ---------------------------------------------------------------------

    def access(self, rec: Recorded, kind: str) -> tuple[AccessGrant | None, str | None]:
        """The Bearer token's grant and what is wrong with it (None when it is good)."""
        rec.label(self.name, kind)
        value = rec.bearer
        grant = self.grants.access.get(value or "")
        if grant is None:
            return None, "missing" if value is None else "unknown"
        rec.label(grant.client, kind, grant.account)
        return grant, grant.problem()
