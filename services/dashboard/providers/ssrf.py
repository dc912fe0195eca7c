"""User-supplied upstream URLs: refuse internal addresses, follow no redirects.

Two uses. Model discovery fetches a URL itself: the host is resolved once by a guarded resolver
and the connection goes to the address that was checked, so a DNS answer cannot change between
the check and the connect (rebinding). Saving a base URL or proxy URL that the dashboard writes
into the proxies' config (`check_upstream`) applies the same rules before anything is stored.
An admin may lift the private-network part of the rules (`UpstreamPolicy.allow_private`);
metadata, link-local, multicast, reserved and numeric-trick hosts stay refused whatever it says.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver

from services.core.errors import BadRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Hosts that parse as a number in some libc (hex, octal, a single integer, fewer than 4 parts):
# refused outright rather than guessing what the resolver will make of them.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)
# Well-known metadata services that are not covered by the private/link-local ranges.
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254")
)
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
# What the admin setting "allow private upstream addresses" lifts; every other reason stays.
_PRIVATE_REASONS = frozenset({"loopback address", "private address", "non-public address"})
_LOOPBACK = ipaddress.ip_address("127.0.0.1")
RESOLVE_TIMEOUT_S = 3.0


class BlockedAddress(BadRequest):
    """The URL points at an address the dashboard must not reach."""

    code = "ssrf_blocked"
    liftable = False  # the admin setting "allow private upstream addresses" would allow it


def _blocked(message: str, reason: str) -> BlockedAddress:
    exc = BlockedAddress(message)
    exc.liftable = reason in _PRIVATE_REASONS
    return exc


def blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` may not be fetched (loopback, private, ...), or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and (ip in _MAPPED or ip in _NAT64):
        return "IPv4-mapped or translated address"
    # Order matters: the first hit names the address, and only loopback, private and
    # non-public are lifted by the admin setting (0.0.0.0 reaches the local host: refused first).
    checks = (
        (ip in _METADATA, "cloud metadata address"),
        (ip.is_unspecified or ip in _THIS_NETWORK, "unspecified address"),
        (ip.is_multicast, "multicast address"),
        (ip.is_link_local, "link-local address"),
        (ip.is_loopback, "loopback address"),  # before reserved: ::1 is in ::/8
        (ip.is_reserved, "reserved address"),
        (ip.is_private, "private address"),
        (not ip.is_global, "non-public address"),
    )
    for hit, reason in checks:
        if hit:
            return reason
    return None


@dataclass(frozen=True, slots=True)
class UpstreamPolicy:
    """Which upstream addresses a URL may name: public ones always; private ones (loopback,
    RFC 1918, CGNAT, ULA) when an admin allows them; `allowed` host:port pairs whatever they
    are (FETCH_MODELS_ALLOW: tests, an operator's own upstream)."""

    allow_private: bool = False
    allowed: frozenset[str] = frozenset()

    def refusal(self, ip: IPAddress) -> str | None:
        """Why `ip` may not be reached under this policy, or None."""
        reason = blocked_reason(ip)
        if reason in _PRIVATE_REASONS and self.allow_private:
            return None
        return reason

    def lists(self, host: str, port: int) -> bool:
        return f"{host}:{port}".lower() in self.allowed


def literal_host(host: str) -> IPAddress | None:
    """The address a URL host names literally (`localhost` names loopback, RFC 6761); raises
    BlockedAddress for numeric tricks."""
    bare = host.strip("[]")
    if bare.lower().rstrip(".") == "localhost" or bare.lower().rstrip(".").endswith(".localhost"):
        return _LOOPBACK
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(bare):
        raise BlockedAddress(f"host {host!r} is a numeric address in a non-standard form")
    return None


_DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}


def check_url(
    url: str,
    policy: UpstreamPolicy = UpstreamPolicy(),
    schemes: frozenset[str] = frozenset({"http", "https"}),
) -> tuple[str, int]:
    """Validate scheme and literal host of `url`; returns (host, port) for the resolver step."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in schemes or not parts.hostname or port == -1:
        raise BadRequest(f"the URL must be {' or '.join(sorted(schemes))}:// with a host")
    host = parts.hostname
    port = port or _DEFAULT_PORTS[parts.scheme]
    if policy.lists(host, port):
        return host, port
    ip = literal_host(host)
    if ip is not None and (reason := policy.refusal(ip)):
        raise _blocked(f"refused {host}: {reason}", reason)
    return host, port


def stored_refusal(policy: UpstreamPolicy, *urls: str | None) -> str | None:
    """Why a stored entry's URLs are refused by their literal hosts alone (no DNS), or None.
    For rows saved before the guard existed or before an admin turned private addresses off:
    checked again each time they are written to a proxy, and shown on the providers page."""
    for url in urls:
        if not url or url in {"direct", "none"}:
            continue
        try:
            check_url(url, policy, frozenset(_DEFAULT_PORTS))
        except BlockedAddress as exc:
            return exc.message
        except BadRequest:
            continue  # a malformed URL is the proxy's validation's business, not an address
    return None


async def check_upstream(
    url: str,
    policy: UpstreamPolicy,
    schemes: frozenset[str] = frozenset({"http", "https"}),
) -> None:
    """Refuse an upstream URL the proxies would be told to reach: its literal host, then every
    address its name resolves to here. A name that does not resolve here is accepted: the
    dashboard cannot judge it, and it may resolve on the proxies' network."""
    host, port = check_url(url, policy, schemes)
    if policy.lists(host, port) or literal_host(host) is not None:
        return
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        return
    for *_, sockaddr in infos:
        reason = policy.refusal(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
        if reason:
            raise _blocked(f"refused {host}: it resolves to a {reason}", reason)


PROXY_SCHEMES = frozenset({"http", "https", "socks5", "socks5h"})
_HINT = "; an admin can allow private upstream addresses under Settings"


async def check_field(
    field: str,
    url: str,
    policy: UpstreamPolicy,
    schemes: frozenset[str] = frozenset({"http", "https"}),
) -> None:
    """`check_upstream` for a form or API field: the refusal names the field, and says how an
    admin lifts it when the setting would."""
    try:
        await check_upstream(url, policy, schemes)
    except BlockedAddress as exc:
        hint = _HINT if exc.liftable else ""
        raise BlockedAddress(
            f"{field}: {exc.message}{hint}", details=[{"field": field, "message": exc.message}]
        ) from exc


class GuardedResolver(ThreadedResolver):
    """Resolves like the default resolver, then refuses the host if any answer is internal."""

    def __init__(self, policy: UpstreamPolicy) -> None:
        super().__init__()
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await super().resolve(host, port, family)
        if self._policy.lists(host, port):
            return results
        for result in results:
            reason = self._policy.refusal(ipaddress.ip_address(result["host"]))
            if reason:
                raise BlockedAddress(f"refused to fetch {host}: it resolves to a {reason}")
        return results


@dataclass(frozen=True, slots=True)
class FetchLimits:
    timeout_s: float = 10.0
    max_bytes: int = 2 * 1024 * 1024


async def fetch_json(
    url: str,
    headers: dict[str, str],
    *,
    policy: UpstreamPolicy = UpstreamPolicy(),
    limits: FetchLimits = FetchLimits(),
) -> Any:
    """GET `url` through the guard and return its JSON body; BadRequest on any refusal."""
    check_url(url, policy)
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), use_dns_cache=False)
    timeout = aiohttp.ClientTimeout(total=limits.timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        try:
            async with session.get(url, headers=headers, allow_redirects=False) as resp:
                if 300 <= resp.status < 400:
                    raise BlockedAddress(
                        "the server answered with a redirect; redirects are not followed"
                    )
                body = await _read_capped(resp, limits.max_bytes)
                if resp.status >= 400:
                    raise BadRequest(
                        f"the server answered HTTP {resp.status}", code="upstream_status"
                    )
        except BadRequest:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise BadRequest(
                f"could not reach the server: {type(exc).__name__}", code="fetch_failed"
            ) from exc
    try:
        return orjson.loads(body)
    except ValueError as exc:
        raise BadRequest("the server did not answer JSON", code="fetch_failed") from exc


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > max_bytes:
            raise BadRequest(f"the answer is larger than {max_bytes} bytes", code="fetch_failed")
        chunks.append(chunk)
    return b"".join(chunks)
