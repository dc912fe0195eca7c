"""What every OAuth fake keeps: accounts, the grants an authorization server issues (codes,
access and refresh tokens, device codes) and the faults a test scripts per account.

Times are wall-clock seconds (`time.time()`), because the proxy under test computes expiry
from `expires_in` against its own clock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

CODE_TTL = 600  # seconds an authorization code stays valid (RFC 6749 §4.1.2: short-lived)


def iso(at: float) -> str:
    """RFC 3339 UTC time, as the providers' quota endpoints write it."""
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def unix(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def token(prefix: str, size: int = 32) -> str:
    return prefix + secrets.token_urlsafe(size)


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def unsigned_jwt(claims: dict[str, Any]) -> str:
    """A JWT-shaped token: clients decode its payload without checking the signature."""

    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    return f"{part({'alg': 'RS256', 'typ': 'JWT', 'kid': 'fake'})}.{part(claims)}.{token('')}"


def jwt_claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    result: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return result


@dataclass
class Fault:
    """A scripted answer that replaces the normal one at one stage of an account's traffic."""

    stage: Literal["inference", "refresh", "quota"]
    respond: Callable[[], web.Response]
    times: int | None = 1  # None: every matching request until `until` passes or it is cleared
    until: float | None = None  # wall-clock end, e.g. a rate limit's reset time

    def live(self) -> bool:
        return (self.times is None or self.times > 0) and (
            self.until is None or time.time() < self.until
        )


@dataclass
class Account:
    """One subscription account of a provider, as its real service knows it."""

    provider: str
    email: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))  # account uuid / account_id / sub
    plan: str = "pro"
    org_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    org_name: str = "Fake Org"
    project: str | None = None  # Google: Code Assist project; None forces onboarding
    projects: list[str] = field(default_factory=list)  # Google: cloudresourcemanager's list
    enabled_services: set[str] = field(default_factory=set)  # Google: serviceusage state
    onboarding_polls: int = 1  # Google: onboardUser answers done:false this many times first
    quota: dict[str, Any] = field(default_factory=dict)  # the provider's quota JSON, editable
    faults: list[Fault] = field(default_factory=list)

    def fault(self, stage: str) -> web.Response | None:
        """The next live scripted answer for `stage`, consuming one use of it."""
        self.faults = [f for f in self.faults if f.live()]
        for fault in self.faults:
            if fault.stage == stage:
                if fault.times is not None:
                    fault.times -= 1
                return fault.respond()
        return None


@dataclass
class TokenSet:
    """What one successful token response carried."""

    account: Account
    client: str
    access_token: str
    refresh_token: str | None
    expires_in: int
    scope: str = ""
    id_token: str | None = None
    issued_at: float = field(default_factory=time.time)

    @property
    def expires_at(self) -> float:
        return self.issued_at + self.expires_in


@dataclass
class AccessGrant:
    account: Account
    client: str
    expires_at: float
    revoked: bool = False

    def problem(self) -> str | None:
        if self.revoked:
            return "revoked"
        return "expired" if time.time() >= self.expires_at else None


@dataclass
class RefreshGrant:
    account: Account
    client: str
    scope: str
    last_access: str  # the access token most recently issued from this grant
    revoked: bool = False
    reused: bool = False  # revoked because a rotation replaced it


@dataclass
class CodeGrant:
    account: Account
    client: str
    redirect_uri: str
    scope: str
    state: str
    challenge: str | None
    offline: bool = True  # Google: access_type=offline, else no refresh token
    expires_at: float = field(default_factory=lambda: time.time() + CODE_TTL)
    used: bool = False


@dataclass
class DevicePolicy:
    """How the fake's user answers device logins (RFC 8628 §3.5), set by tests per provider."""

    pending_polls: int | None = 2  # then `outcome`; None: wait for a visit of the verification page
    outcome: Literal["approve", "access_denied", "expired_token"] = "approve"
    interval: int = 1  # seconds between polls the fake demands (and announces)
    slow_down_step: int = 5  # RFC 8628: each slow_down adds 5 s to the interval
    expires_in: int = 600


@dataclass
class DeviceGrant:
    device_code: str
    user_code: str
    client: str
    interval: float
    expires_at: float
    status: Literal["pending", "approved", "denied", "consumed"] = "pending"
    account: Account | None = None
    polls: int = 0
    last_poll: float | None = None


class Grants:
    """Everything one provider's authorization server has issued."""

    def __init__(self) -> None:
        self.codes: dict[str, CodeGrant] = {}
        self.access: dict[str, AccessGrant] = {}
        self.refresh: dict[str, RefreshGrant] = {}
        self.devices: dict[str, DeviceGrant] = {}
        self.issued: list[TokenSet] = []

    def issue(self, tokens: TokenSet) -> TokenSet:
        self.issued.append(tokens)
        self.access[tokens.access_token] = AccessGrant(
            tokens.account, tokens.client, tokens.expires_at
        )
        if tokens.refresh_token:
            self.refresh[tokens.refresh_token] = RefreshGrant(
                tokens.account, tokens.client, tokens.scope, tokens.access_token
            )
        return tokens

    def for_account(self, account: Account) -> list[TokenSet]:
        return [t for t in self.issued if t.account is account]

    def expire(self, account: Account) -> None:
        for grant in self.access.values():
            if grant.account is account:
                grant.expires_at = min(grant.expires_at, time.time() - 1)

    def revoke(self, account: Account) -> None:
        for access in self.access.values():
            access.revoked = access.revoked or access.account is account
        for refresh in self.refresh.values():
            refresh.revoked = refresh.revoked or refresh.account is account

    def secrets(self) -> dict[str, str]:
        """Every secret issued: value -> kind."""
        found = {c: "code" for c in self.codes}
        found |= {a: "access_token" for a in self.access}
        found |= {r: "refresh_token" for r in self.refresh}
        found |= {d: "device_code" for d in self.devices}
        found |= {t.id_token: "id_token" for t in self.issued if t.id_token}
        return found
