"""What a `proxy-url` names for the lean client, and the errors an outbound proxy can cause.

The lean client speaks the proxies aiohttp and aiohttp-socks accepted before it, with their
meaning unchanged, so no configured URL changes behaviour:

- `http://[user:pass@]host[:port]` (port 80 by default): https upstreams through a `CONNECT`
  tunnel, http upstreams as absolute-form requests to the proxy (what aiohttp does; a proxy
  that only allows `CONNECT` to port 443, Squid's default, keeps working). Userinfo becomes
  `Proxy-Authorization: Basic`.
- `socks5://[user:pass@]host:port`: the upstream's name is resolved by the proxy (aiohttp-socks'
  default for SOCKS5), username/password by RFC 1929. `socks5h://` means the same; aiohttp-socks
  refused that spelling, it now works on both clients.
- `socks4://[user@]host:port`: the name is resolved here, the user name is the SOCKS4 user id.

Anything else (`https://` proxies, a SOCKS URL without a port, credentials that the protocol
cannot carry) is `None` here: such requests stay on aiohttp exactly as before.

Credentials never leave this object except on the wire to the proxy: errors and the object's
repr name the proxy by `host:port` only.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

_SOCKS = {"socks5": "socks5", "socks5h": "socks5", "socks4": "socks4"}


class ProxyError(aiohttp.ClientConnectionError):
    """The outbound proxy did not give a connection to the upstream (a network error for the
    executor's failover). Messages name the proxy by host:port, never its credentials."""


class ProxyUnreachable(ProxyError):
    """The outbound proxy itself could not be reached."""


class ProxyAuthFailed(ProxyError):
    """The outbound proxy wants credentials, or refused the ones in `proxy-url`."""


class ProxyRefused(ProxyError):
    """The outbound proxy refused to reach the upstream, or answered something unexpected."""


@dataclass(frozen=True, slots=True)
class OutboundProxy:
    kind: str  # "http", "socks5" or "socks4"
    host: str
    port: int
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @property
    def address(self) -> str:
        """The proxy as errors name it: host and port, no credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def authorization(self) -> str:
        """The `Proxy-Authorization` header line of an HTTP proxy ("" without credentials)."""
        if self.kind != "http" or not (self.username or self.password):
            return ""
        token = base64.b64encode(f"{self.username}:{self.password}".encode("latin-1"))
        return f"Proxy-Authorization: Basic {token.decode()}\r\n"


def parse_proxy_url(proxy_url: str) -> OutboundProxy | None:
    """The proxy a `proxy-url` names, or None when the lean client does not speak it."""
    try:
        url = URL(proxy_url.strip())
        scheme = url.scheme.lower()
        host = url.raw_host
        port = url.explicit_port
        username, password = url.user or "", url.password or ""
    except (ValueError, TypeError):
        return None
    if not host:
        return None
    if scheme == "http":
        try:
            (username + password).encode("latin-1")  # what aiohttp's Basic auth encodes
        except UnicodeEncodeError:
            return None
        return OutboundProxy("http", host, port or 80, username, password)
    kind = _SOCKS.get(scheme)
    if kind is None or port is None:
        return None
    if kind == "socks5" and not (username and password):
        username = password = ""  # aiohttp-socks authenticates only with both
    if len(username.encode()) > 255 or len(password.encode()) > 255:
        return None  # RFC 1929 fields are one length byte each
    if kind == "socks4" and "\0" in username:
        return None
    return OutboundProxy(kind, host, port, username, password)
