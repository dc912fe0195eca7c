"""CSRF defence: state-changing requests must come from the dashboard's own origin.

Rule (DESIGN.md section 6): a request with an unsafe method that carries the session cookie
needs an Origin (or, failing that, a Referer) equal to the request's effective origin or to
DASHBOARD_URL; with neither header it is refused. A foreign Origin is refused on every unsafe
request, signed in or not. Bearer-authenticated routes are exempt (no ambient credential).
"""

from __future__ import annotations

from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL in canonical form (lower case, default port dropped)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def request_source(origin: str | None, referer: str | None) -> str | None:
    """The origin a request claims to come from: Origin if present and not "null", else Referer."""
    if origin and origin != "null":
        return origin_of(origin) or "invalid"
    if referer:
        return origin_of(referer) or "invalid"
    if origin == "null":
        return "invalid"
    return None


def check_origin(
    method: str,
    source: str | None,
    allowed: set[str],
    *,
    cookie_authenticated: bool,
) -> str | None:
    """Why the request must be refused, or None when it may proceed."""
    if method.upper() in SAFE_METHODS:
        return None
    if source is None:
        return "missing Origin header" if cookie_authenticated else None
    if source not in allowed:
        return "cross-origin request refused"
    return None
