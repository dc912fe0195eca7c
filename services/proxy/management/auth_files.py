"""The auth-file listing entry the Management Center reads: public fields plus live status.

The files themselves (names, parsing, atomic writes) are the oauth layer's
(`oauth/auth_files.py`); the names are re-exported here for the management routes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..oauth.auth_files import (
    AuthFile,
    AuthFileStore,
    auth_file_index,
    parse_content,
    validate_name,
)
from .context import AuthStats

__all__ = [
    "AuthFile",
    "AuthFileStore",
    "auth_file_index",
    "describe",
    "parse_content",
    "validate_name",
]


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def _number(data: dict[str, Any], key: str, default: int) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def describe(file: AuthFile, stats: AuthStats) -> dict[str, Any]:
    """The listing entry the Management Center reads; public fields only, never tokens."""
    data = file.data or {}
    disabled = data.get("disabled") is True
    if file.data is None:
        status, message = "error", "file is not a valid JSON object"
    elif disabled:
        status, message = "disabled", stats.status_message
    else:
        status = "error" if stats.unavailable else "active"
        message = stats.status_message
    email = _text(data, "email")
    return {
        "id": file.name,
        "auth_index": file.auth_index,
        "name": file.name,
        "type": file.provider,
        "provider": file.provider,
        "label": email or file.name.removesuffix(".json"),
        "email": email,
        "project_id": _text(data, "project_id"),
        "status": status,
        "status_message": message,
        "disabled": disabled,
        "unavailable": stats.unavailable,
        "runtime_only": False,
        "source": "file",
        "size": file.size,
        "modtime": _iso(file.modified),
        "prefix": _text(data, "prefix"),
        "priority": _number(data, "priority", 0),
        "weight": _number(data, "weight", 1),
        "note": _text(data, "note"),
        "last_refresh": stats.last_refresh or _text(data, "last_refresh") or None,
        "expired": stats.expires_at or _text(data, "expired") or None,
        # Every file of the auth directory is an account file, also before the accounts pool has
        # loaded it (the listing reads the folder; the pool scans it on its own clock).
        "auth_type": "oauth",
        "next_retry_after": stats.next_retry_after,
        "success": stats.success,
        "failed": stats.failed,
        "recent_requests": [
            {"time": b.time, "success": b.success, "failed": b.failed}
            for b in stats.recent_requests
        ],
    }
