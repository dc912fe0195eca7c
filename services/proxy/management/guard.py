"""Who may call the management API: key check, per-address ban, network restriction.

Kept apart from aiohttp so the rules are plain functions of (address, key, clock).
"""

from __future__ import annotations

import hmac
import ipaddress
import math
from collections.abc import Callable
from dataclasses import dataclass

from services.core.errors import AppError, Forbidden, Unauthorized

# Bounded so a flood of addresses cannot grow memory without limit; expired entries go first.
_MAX_TRACKED_ADDRESSES = 10_000


@dataclass(slots=True)
class _Attempts:
    failures: int = 0
    banned_until: float = 0.0
    last_seen: float = 0.0


def is_local_network(address: str | None) -> bool:
    """Loopback or private (RFC 1918, ULA, link-local) addresses; unknown peers are not local."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_private or ip.is_link_local


def presented_key(authorization: str | None, management_header: str | None) -> str:
    """The key a caller sent: `Authorization: Bearer k` (or a bare value), else X-Management-Key."""
    if authorization:
        scheme, _, rest = authorization.strip().partition(" ")
        if rest and scheme.lower() == "bearer":
            return rest.strip()
        return authorization.strip()
    return (management_header or "").strip()


class ManagementGuard:
    """Checks a caller; counts failed keys per address and bans after `threshold` of them.

    As CLIProxyAPI: the failure that reaches the threshold is still answered 401 and starts
    the ban; the address is refused (403) from its next request on."""

    def __init__(
        self, clock: Callable[[], float], *, threshold: int = 5, ban_seconds: float = 1800.0
    ) -> None:
        self._clock = clock
        self._threshold = threshold
        self._ban_seconds = ban_seconds
        self._attempts: dict[str, _Attempts] = {}

    def check(self, address: str, provided: str, expected: str, *, allow_remote: bool) -> None:
        """Return when the caller may proceed; raise Forbidden or Unauthorized otherwise."""
        if not allow_remote and not is_local_network(address):
            raise Forbidden("remote management disabled")
        self._refuse_if_banned(address)
        if not provided:
            raise self._failure(address, "missing management key")
        if not hmac.compare_digest(provided.encode(), expected.encode()):
            raise self._failure(address, "invalid management key")
        self._attempts.pop(address, None)

    def banned_for(self, address: str) -> float:
        """Seconds left on the address's ban, 0 when it is not banned."""
        entry = self._attempts.get(address)
        if entry is None:
            return 0.0
        return max(0.0, entry.banned_until - self._clock())

    def _refuse_if_banned(self, address: str) -> None:
        remaining = self.banned_for(address)
        if remaining > 0:
            raise _ban_error(remaining)

    def _failure(self, address: str, message: str) -> AppError:
        now = self._clock()
        entry = self._attempts.get(address)
        if entry is None:
            self._make_room(now)
            entry = self._attempts[address] = _Attempts()
        entry.failures += 1
        entry.last_seen = now
        if entry.failures >= self._threshold:
            entry.failures = 0
            entry.banned_until = now + self._ban_seconds
        return Unauthorized(message)

    def _make_room(self, now: float) -> None:
        if len(self._attempts) < _MAX_TRACKED_ADDRESSES:
            return
        for address in [a for a, e in self._attempts.items() if e.banned_until <= now]:
            del self._attempts[address]
        if len(self._attempts) >= _MAX_TRACKED_ADDRESSES:  # all banned: drop the oldest
            oldest = min(self._attempts, key=lambda a: self._attempts[a].last_seen)
            del self._attempts[oldest]


def _ban_error(remaining: float) -> Forbidden:
    minutes = max(1, math.ceil(remaining / 60))
    plural = "s" if minutes != 1 else ""
    return Forbidden(
        f"IP banned due to too many failed attempts. Try again in {minutes} minute{plural}"
    )
