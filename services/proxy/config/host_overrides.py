"""`upstream-host-overrides`: send what is meant for one origin to another (ours).

A map from a real origin (`https://claude.ai`) to a replacement origin (`http://127.0.0.1:9001`),
applied to every outbound request (logins, refresh, inference, quota, `api-call`) and to the
authorize and verification URLs handed to a user. Paths and queries are kept. Off when empty.
Decisions about a URL (the host pinning of `api-call`) are made on the real origin, before the
rewrite. Tests use it to reach the provider fakes; operators behind an egress gateway too.
"""

from __future__ import annotations

from collections.abc import Mapping

from yarl import URL

Origin = tuple[str, str, int | None]


def check_origin(text: str) -> URL:
    """The origin as a URL; ValueError when it is not `scheme://host[:port]` (no path)."""
    try:
        url = URL(text.rstrip("/"))
    except (ValueError, TypeError):
        raise ValueError(f"{text!r} is not a URL") from None
    if url.scheme not in {"http", "https"} or not url.host:
        raise ValueError(f"{text!r} must be an http(s) origin such as https://claude.ai")
    if url.path not in {"", "/"} or url.query_string or url.fragment or url.user:
        raise ValueError(f"{text!r} must be an origin only (no path, query or user)")
    return url


def origin_of(url: URL) -> Origin:
    return (url.scheme.lower(), (url.host or "").lower().rstrip("."), url.port)


class HostOverrides:
    """The live map; `update` swaps it when the config changes, `rewrite` reads it."""

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self._map: dict[Origin, URL] = {}
        self.version = 0  # bumped by every update: caches of rewritten URLs check it
        self.update(mapping or {})

    def update(self, mapping: Mapping[str, str]) -> None:
        self._map = {origin_of(check_origin(k)): check_origin(v) for k, v in mapping.items()}
        self.version += 1

    def __bool__(self) -> bool:
        return bool(self._map)

    def rewrite(self, url: URL) -> URL:
        """`url` on its replacement origin (path and query kept), or `url` itself."""
        if not self._map or not url.is_absolute():
            return url
        target = self._map.get(origin_of(url))
        if target is None:
            return url
        return url.with_scheme(target.scheme).with_host(target.host or "").with_port(target.port)

    def rewrite_text(self, text: str) -> str:
        """The same for a URL handed to a person (an authorize link)."""
        if not self._map:
            return text
        try:
            return str(self.rewrite(URL(text)))
        except ValueError:
            return text
