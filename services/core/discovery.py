"""The proxy replicas named by PROXY_URL, kept current while the process runs.

PROXY_URL is a comma list. A plain `http(s)://host:port` entry is one replica. A
`dns+http(s)://NAME:PORT` entry stands for every address NAME resolves to (A and AAAA records:
Swarm's `tasks.<service>`, a Kubernetes headless service), each one a replica at
`http(s)://ADDRESS:PORT`. `Replicas.refresh()` resolves the names again (the dashboard and the
collector call it every PROXY_DISCOVERY_INTERVAL seconds) and says which replicas came and went.

A lookup that fails keeps that entry's last known addresses (a DNS hiccup must not make every
replica vanish); a name that does not exist or has no address means zero replicas from it (a
service scaled to zero). Both are logged once per change of state, not on every refresh.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog

log = structlog.get_logger(__name__)

DNS_PREFIX = "dns+"
# Answers that mean "this name has no address" rather than "the lookup failed".
_EMPTY_ANSWERS = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code is not None
)

# (name, port) -> the addresses it resolves to; raises LookupFailed when DNS cannot answer.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


class LookupFailed(Exception):
    """DNS did not answer (timeout, server failure): the last known addresses still hold."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One PROXY_URL entry: a fixed base URL, or a DNS name standing for many."""

    position: int  # 1-based, in PROXY_URL
    scheme: str  # http | https
    host: str
    port: int | None
    path: str
    dns: bool

    @property
    def url(self) -> str:
        """The fixed replica's base URL (only for entries that are not `dns+`)."""
        return f"{self.scheme}://{_netloc(self.host, self.port)}{self.path}"

    def url_for(self, address: str) -> str:
        return f"{self.scheme}://{_netloc(address, self.port)}{self.path}"


@dataclass(frozen=True, slots=True)
class Change:
    """What one refresh changed: base URLs that appeared and that went away."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def split_entries(value: str) -> list[str]:
    """The comma list as written, each entry trimmed and without a trailing slash."""
    return [item.strip().rstrip("/") for item in value.split(",") if item.strip()]


def parse_entry(text: str, position: int = 1) -> Entry:
    """Validate one entry; ValueError says what is wrong (and never resolves anything)."""
    dns = text.startswith(DNS_PREFIX)
    parts = urlsplit(text.removeprefix(DNS_PREFIX) if dns else text)
    prefix = DNS_PREFIX if dns else ""
    if parts.scheme not in {"http", "https"}:
        raise ValueError(
            f"PROXY_URL entry {text!r} must start with http://, https://, "
            "dns+http:// or dns+https://"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"PROXY_URL entry {text!r} has an invalid port") from None
    if not parts.hostname or parts.username or parts.query or parts.fragment:
        raise ValueError(f"PROXY_URL entry {text!r} must be {prefix}{parts.scheme}://HOST:PORT")
    if dns and port is None:
        raise ValueError(f"PROXY_URL entry {text!r} needs a port (dns+http://NAME:PORT)")
    return Entry(position, parts.scheme, parts.hostname, port, parts.path.rstrip("/"), dns)


def parse_entries(value: str | Sequence[str]) -> tuple[Entry, ...]:
    """Every entry of PROXY_URL (a comma list, or its items); at least one is required."""
    items = split_entries(value) if isinstance(value, str) else list(value)
    if not items:
        raise ValueError("PROXY_URL must name at least one proxy")
    return tuple(parse_entry(item, i) for i, item in enumerate(items, start=1))


async def system_resolver(name: str, port: int) -> list[str]:
    """Every address `name` resolves to, through the event loop's executor (never blocking)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in _EMPTY_ANSWERS:
            return []
        raise LookupFailed(f"{name}: {exc.strerror or exc}") from exc
    except OSError as exc:
        raise LookupFailed(f"{name}: {exc}") from exc
    return [str(info[4][0]) for info in infos]


class Replicas:
    """The live list of proxy base URLs: fixed entries, then each name's addresses, sorted."""

    def __init__(self, entries: Sequence[Entry], resolver: Resolver | None = None) -> None:
        self.entries = tuple(entries)
        self._resolve = resolver or system_resolver
        self._found: dict[int, tuple[str, ...]] = {}  # entry position -> addresses
        self._problems: dict[int, str] = {}  # entry position -> last failure logged
        self._labels: dict[str, str] = {}
        self.urls: list[str] = []
        self.version = 0  # bumped on every change
        self._changed = asyncio.Condition()
        self._publish()

    @classmethod
    def from_setting(cls, value: str | Sequence[str], resolver: Resolver | None = None) -> Replicas:
        return cls(parse_entries(value), resolver)

    @property
    def discovers(self) -> bool:
        """True when some entry is a DNS name (so `watch` has something to do)."""
        return any(entry.dns for entry in self.entries)

    @property
    def labels(self) -> list[str]:
        """How pages name each replica of `urls`: "proxy" when PROXY_URL is one fixed URL,
        "proxy N" for the Nth fixed entry, and "proxy ADDRESS:PORT" for a discovered one
        (an index would name another replica once the set changes)."""
        return [self._labels[url] for url in self.urls]

    def label(self, url: str) -> str:
        return self._labels.get(url, url)

    async def refresh(self) -> Change:
        """Resolve every DNS entry again; returns what changed (logged when anything did)."""
        names = [entry for entry in self.entries if entry.dns]
        answers = await asyncio.gather(*(self._lookup(entry) for entry in names))
        for entry, found in zip(names, answers, strict=True):
            if found is not None:
                self._found[entry.position] = found
        before = set(self.urls)
        self._publish()
        change = Change(
            tuple(u for u in self.urls if u not in before),
            tuple(sorted(before - set(self.urls))),
        )
        if change:
            self.version += 1
            log.info("proxy_replicas_changed", added=change.added, removed=change.removed,
                     replicas=len(self.urls))  # fmt: skip
            async with self._changed:
                self._changed.notify_all()
        return change

    async def watch(
        self, interval_s: float, on_change: Callable[[Change], Awaitable[None]] | None = None
    ) -> None:
        """Refresh every `interval_s` forever, handing each change to `on_change` (returns at
        once when no entry is a DNS name: nothing can change)."""
        while self.discovers:
            await asyncio.sleep(interval_s)
            change = await self.refresh()
            if on_change is None:
                continue
            try:
                await on_change(change)
            except Exception:  # a database outage must not end discovery for good
                log.exception("proxy_discovery_round_failed")

    async def wait_for(self, check: Callable[[list[str]], bool]) -> list[str]:
        """Wait until `check(urls)` holds (tests and callers that await a replica)."""
        async with self._changed:
            await self._changed.wait_for(lambda: check(self.urls))
            return list(self.urls)

    async def _lookup(self, entry: Entry) -> tuple[str, ...] | None:
        """The entry's addresses, sorted; None when the lookup failed (keep the last ones)."""
        assert entry.port is not None
        try:
            found = tuple(sorted(set(await self._resolve(entry.host, entry.port)), key=_order))
        except (LookupFailed, OSError) as exc:
            self._note(entry, f"lookup failed: {exc}")
            return None
        self._note(entry, "" if found else "resolves to no address")
        return found

    def _note(self, entry: Entry, problem: str) -> None:
        """Log a lookup's trouble (or its end) once, when it changes, not on every refresh."""
        if self._problems.get(entry.position, "") == problem:
            return
        self._problems[entry.position] = problem
        name = f"{entry.host}:{entry.port}"
        if problem:
            kept = len(self._found.get(entry.position, ()))
            log.warning("proxy_discovery_problem", name=name, problem=problem, kept=kept)
        else:
            log.info("proxy_discovery_resolved", name=name)

    def _publish(self) -> None:
        urls: list[str] = []
        labels: dict[str, str] = {}
        single = len(self.entries) == 1 and not self.entries[0].dns
        for entry in self.entries:
            if not entry.dns:
                pairs = [(entry.url, "proxy" if single else f"proxy {entry.position}")]
            else:
                found = self._found.get(entry.position, ())
                pairs = [(entry.url_for(a), f"proxy {_netloc(a, entry.port)}") for a in found]
            for url, label in pairs:
                if url not in labels:  # the same replica named twice is one replica
                    urls.append(url)
                    labels[url] = label
        self.urls, self._labels = urls, labels


def fixed(urls: Sequence[str]) -> Replicas:
    """A set that never changes (one replica picked out of a live set, or tests)."""
    return Replicas(parse_entries(list(urls)))


def _netloc(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


def _order(address: str) -> tuple[int, int, str]:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return (9, 0, address)  # a test resolver may answer names
    return (ip.version, int(ip), address)
