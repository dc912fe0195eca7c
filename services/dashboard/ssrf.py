"""Server-side fetches of user-supplied URLs: refuse internal addresses, follow no redirects.

The host is resolved once by a guarded resolver and the connection goes to the address that was
checked, so a DNS answer cannot change between the check and the connect (rebinding).
"""

from __future__ import annotations

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


class BlockedAddress(BadRequest):
    """The URL points at an address the dashboard must not reach."""

    code = "ssrf_blocked"


def blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` may not be fetched (loopback, private, ...), or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and (ip in _MAPPED or ip in _NAT64):
        return "IPv4-mapped or translated address"
    checks = (
        (ip in _METADATA, "cloud metadata address"),
        (ip.is_loopback, "loopback address"),
        (ip.is_link_local, "link-local address"),
        (ip.is_private, "private address"),
        (ip.is_multicast, "multicast address"),
        (ip.is_unspecified, "unspecified address"),
        (ip.is_reserved, "reserved address"),
        (not ip.is_global, "non-public address"),
    )
    for hit, reason in checks:
        if hit:
            return reason
    return None


def literal_host(host: str) -> IPAddress | None:
    """The address a URL host names literally; raises BlockedAddress for numeric tricks."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(bare):
        raise BlockedAddress(f"host {host!r} is a numeric address in a non-standard form")
    return None


def check_url(url: str, allowed: frozenset[str] = frozenset()) -> tuple[str, int]:
    """Validate scheme and literal host of `url`; returns (host, port) for the resolver step."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise BadRequest("the URL must be http:// or https:// with a host")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if f"{host}:{port}".lower() in allowed:
        return host, port
    ip = literal_host(host)
    if ip is not None and (reason := blocked_reason(ip)):
        raise BlockedAddress(f"refused to fetch {host}: {reason}")
    return host, port


class GuardedResolver(ThreadedResolver):
    """Resolves like the default resolver, then refuses the host if any answer is internal."""

    def __init__(self, allowed: frozenset[str]) -> None:
        super().__init__()
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await super().resolve(host, port, family)
        if f"{host}:{port}".lower() in self._allowed:
            return results
        for result in results:
            reason = blocked_reason(ipaddress.ip_address(result["host"]))
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
    allowed: frozenset[str] = frozenset(),
    limits: FetchLimits = FetchLimits(),
) -> Any:
    """GET `url` through the guard and return its JSON body; BadRequest on any refusal."""
    check_url(url, allowed)
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allowed), use_dns_cache=False)
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
