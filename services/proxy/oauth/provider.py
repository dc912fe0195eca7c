"""The provider seam: everything one OAuth subscription provider brings, behind one class.

A provider module (`oauth/providers/<type>.py`) defines `PROVIDER`, an instance of a subclass
of `OAuthProvider`, and is listed once in `oauth/providers/__init__.py`. The generic machinery
(auth directory, token store, refresh scheduling, login sessions, forwarders, device polling,
quota route, credential building) only ever calls the methods below; a method a provider does
not implement raises `NotSupported`, which the routes answer with a 501 naming the provider.

What a provider implements, in the order an account lives:

- `info` (everything): auth-file type, starter route, callback route and port, lead times,
  wire format, api-call hosts.
- `authorize`, `exchange` (redirect logins: web, pasted URL, CLI): the authorize URL; code ->
  auth file.
- `device_start`, `device_poll` (device logins): RFC 8628 style start and one poll.
- `tokens` (token store): the token fields of an auth file.
- `refresh` (refresher): one refresh attempt -> new tokens and the fields to write back.
- `upstream` (credential builder): base URL, static headers, models and the `UpstreamAdapter`.
- `quota` (`GET /v0/management/quota`): normalized quota windows.

Hooks get plain data (the file's JSON as `Account`) and an `OAuthHttp` (host overrides, the
account's proxy, caps): they never touch files, sessions or runtime state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ..routing.upstream_adapter import UpstreamAdapter
from ..translate.ir import Format
from .http import OAuthHttp

Flow = Literal["redirect", "device"]


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """Static facts of a provider (oauth-providers.md section per provider)."""

    type: str  # auth-file `type`, also the key of `oauth-callback-ports`
    label: str  # for people: "Claude"
    starter: str  # GET /v0/management/<starter>-auth-url
    names: tuple[str, ...]  # `provider` values oauth-callback accepts; the first is canonical
    flow: Flow
    wire_format: Format  # what the upstream speaks (the codec translates into it)
    callback_path: str = ""  # main-port route of redirect logins ("/anthropic/callback")
    redirect_uri: str = ""  # the redirect URI registered with the provider (keeps its port)
    channel: str = ""  # key of oauth-excluded-models / oauth-model-alias ("" = type)
    refresh_lead: float = 300.0  # background refresh this long before expiry
    refresh_before_use: float = 0.0  # a request refreshes first when less than this remains
    api_hosts: tuple[str, ...] = ()  # https hosts api-call may reach with this account's token
    state_prefix: str = ""  # login states look like "<prefix><random hex>"

    @property
    def channel_name(self) -> str:
        return self.channel or self.type


@dataclass(frozen=True, slots=True)
class Account:
    """One auth file as a provider sees it."""

    name: str  # file name in auth-dir
    auth_index: str
    data: Mapping[str, Any]

    def text(self, key: str) -> str:
        value = self.data.get(key)
        return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(default="", repr=False)
    expires_at: float = 0.0  # epoch seconds; 0 = unknown
    last_refresh: float = 0.0


@dataclass(frozen=True, slots=True)
class NewAccount:
    """What a finished login produces: the auth file's name and content."""

    name: str
    data: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Refreshed:
    tokens: Tokens
    updates: dict[str, Any] = field(repr=False)  # fields written back; the others are kept


@dataclass(frozen=True, slots=True)
class Authorization:
    """A started redirect login: the URL for the user and what the exchange needs later."""

    url: str
    redirect_uri: str
    verifier: str = field(default="", repr=False)  # PKCE code verifier ("" without PKCE)
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    """A started device login (RFC 8628 §3.2)."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str = ""
    interval: float = 5.0
    expires_in: float = 900.0
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return self.verification_uri_complete or self.verification_uri


@dataclass(frozen=True, slots=True)
class DevicePoll:
    """One poll's outcome: pending, slow_down, denied, expired, or done with the account."""

    outcome: Literal["pending", "slow_down", "denied", "expired", "done"]
    account: NewAccount | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class QuotaWindow:
    id: str  # five_hour, seven_day, ...
    label: str  # "5h Session"
    used_percent: float | None
    resets_at: str | None  # RFC 3339
    window_seconds: int | None


@dataclass(frozen=True, slots=True)
class QuotaReport:
    plan: str
    windows: tuple[QuotaWindow, ...]


@dataclass(frozen=True, slots=True)
class Upstream:
    """How one credential of an account is sent (a provider may make several per file)."""

    base_url: str
    headers: Mapping[str, str]  # static headers (no Authorization: the token is added per call)
    models: tuple[str, ...]  # upstream model ids it serves before aliases and exclusions
    adapter: UpstreamAdapter
    label: str  # shown and recorded as the usage event's `source` (an e-mail, never a token)
    key: str = ""  # distinguishes several credentials of one file ("" for the only one)


class NotSupported(Exception):  # a state, not an error of the caller
    """This provider does not implement that hook (yet)."""


class LoginError(Exception):
    """A login failed; the message is shown to the user (no secrets in it)."""


class RefreshRejected(Exception):
    """The provider refused the refresh token (invalid_grant and equivalents): the account
    stays unavailable until someone signs it in again."""


class RefreshFailed(Exception):
    """The refresh did not work this time. `retryable`: try again within seconds (5xx,
    network); `retry_after`: the provider asked for a pause (a 429)."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class QuotaFailed(Exception):
    """The quota lookup got no usable answer (its status only; no body, it may echo a token)."""


class OAuthProvider:
    """Base class of every provider; every hook defaults to NotSupported."""

    info: ProviderInfo

    def _missing(self, what: str) -> NotSupported:
        return NotSupported(f"{what} for {self.info.label} accounts is not implemented yet")

    # -- login -----------------------------------------------------------------------------

    def authorize(self, state: str) -> Authorization:
        raise self._missing("Login")

    async def exchange(
        self, http: OAuthHttp, auth: Authorization, code: str, state: str
    ) -> NewAccount:
        raise self._missing("Login")

    async def device_start(self, http: OAuthHttp) -> DeviceAuthorization:
        raise self._missing("Login")

    async def device_poll(self, http: OAuthHttp, device: DeviceAuthorization) -> DevicePoll:
        raise self._missing("Login")

    # -- tokens ----------------------------------------------------------------------------

    def tokens(self, data: Mapping[str, Any]) -> Tokens:
        """The token fields of an auth file; the common CLIProxyAPI layout by default."""
        return Tokens(
            access_token=_text(data, "access_token"),
            refresh_token=_text(data, "refresh_token"),
            expires_at=parse_time(data.get("expired")),
            last_refresh=parse_time(data.get("last_refresh")),
        )

    async def refresh(self, http: OAuthHttp, account: Account) -> Refreshed:
        raise self._missing("Token refresh")

    # -- serving ---------------------------------------------------------------------------

    def upstream(self, account: Account) -> Sequence[Upstream]:
        raise self._missing("Serving requests")

    async def quota(self, http: OAuthHttp, account: Account, token: str) -> QuotaReport:
        raise self._missing("Quota lookup")


class PlannedProvider(OAuthProvider):
    """A provider whose facts are known but whose hooks are not written yet: its files are
    listed (and serve nothing), its starter and quota answer 501."""

    def __init__(self, info: ProviderInfo) -> None:
        self.info = info


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def parse_time(value: Any) -> float:
    """Epoch seconds of an RFC 3339 string (or a unix number); 0.0 when absent or invalid."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / (1000.0 if value > 1e12 else 1.0)
    if not isinstance(value, str) or not value.strip():
        return 0.0
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def rfc3339(epoch: float) -> str:
    """An epoch as CLIProxyAPI writes times into auth files (RFC 3339, UTC, seconds)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
