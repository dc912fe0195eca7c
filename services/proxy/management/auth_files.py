"""OAuth credential files in the auth directory: safe names, bounded JSON, atomic writes.

A file's `auth_index` is the first 16 hex characters of sha256("auth-file" NUL provider NUL name),
the same scheme as config credentials (sha256 over NUL-joined identity parts), so it survives
restarts and content edits but changes when the file is renamed or its `type` changes.
Listings never carry the tokens inside the files.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from services.core.errors import BadRequest, NotFound, PayloadTooLarge

from ..config.files import write_atomic
from .context import AuthStats

_NAME = re.compile(r"^[A-Za-z0-9@+=,_\-][A-Za-z0-9@+=,._\- ]{0,199}$")


def auth_file_index(provider: str, name: str) -> str:
    """Stable credential id of an auth file (see the module docstring)."""
    identity = "\x00".join(("auth-file", provider, name))
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def validate_name(name: str) -> str:
    """The name when it is a plain, visible `.json` file name; BadRequest otherwise."""
    name = name.strip()
    if not name.lower().endswith(".json"):
        raise BadRequest("name must end with .json")
    if ".." in name or not _NAME.match(name):
        # No separators, traversal, hidden files or control characters.
        raise BadRequest("invalid name")
    return name


def parse_content(raw: bytes, max_bytes: int) -> dict[str, Any]:
    """The file's JSON object; size and shape checked before anything is written."""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"auth file exceeds {max_bytes} bytes")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("invalid auth file: not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("invalid auth file: expected a JSON object")
    return data


@dataclass(frozen=True, slots=True)
class AuthFile:
    name: str
    size: int
    modified: float
    data: dict[str, Any] | None  # None when the file on disk is not a valid JSON object

    @property
    def provider(self) -> str:
        kind = (self.data or {}).get("type")
        return kind.strip().lower() if isinstance(kind, str) and kind.strip() else "unknown"

    @property
    def auth_index(self) -> str:
        return auth_file_index(self.provider, self.name)


class AuthFileStore:
    """Blocking file operations on one auth directory; callers run them in a thread."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    def _path(self, name: str) -> Path:
        return self.directory / validate_name(name)

    def list(self) -> list[AuthFile]:
        if not self.directory.is_dir():
            return []
        files = []
        for path in sorted(self.directory.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() != ".json" or not path.is_file():
                continue
            with contextlib.suppress(FileNotFoundError):  # deleted while listing
                files.append(self._load(path))
        return files

    def _load(self, path: Path) -> AuthFile:
        stat = path.stat()
        data: dict[str, Any] | None = None
        if stat.st_size <= self.max_bytes:
            with contextlib.suppress(BadRequest, PayloadTooLarge):
                data = parse_content(path.read_bytes(), self.max_bytes)
        return AuthFile(path.name, stat.st_size, stat.st_mtime, data)

    def get(self, name: str) -> AuthFile:
        path = self._path(name)
        if not path.is_file():
            raise NotFound("file not found")
        return self._load(path)

    def find(self, name: str | None, auth_index: str | None) -> AuthFile:
        if name:
            return self.get(name)
        for file in self.list():
            if file.auth_index == auth_index:
                return file
        raise NotFound("file not found")

    def read_bytes(self, name: str) -> bytes:
        path = self._path(name)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound("file not found") from None

    def write(self, name: str, raw: bytes) -> None:
        parse_content(raw, self.max_bytes)
        self._write_atomic(self._path(name), raw)

    def update(self, name: str, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Read-modify-write of one file's JSON; every other field is kept as it was."""
        file = self.get(name)
        if file.data is None:
            raise BadRequest("auth file on disk is not a valid JSON object")
        data = dict(file.data)
        mutate(data)
        self._write_atomic(self._path(name), orjson.dumps(data, option=orjson.OPT_INDENT_2))
        return data

    def delete(self, name: str) -> None:
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            raise NotFound("file not found") from None

    def delete_all(self) -> int:
        count = 0
        for file in self.list():
            with contextlib.suppress(FileNotFoundError):
                (self.directory / file.name).unlink()
                count += 1
        return count

    def _write_atomic(self, path: Path, raw: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(path, raw, mode=0o600)  # the file holds OAuth tokens


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
        "last_refresh": _text(data, "last_refresh") or None,
        "next_retry_after": stats.next_retry_after,
        "success": stats.success,
        "failed": stats.failed,
        "recent_requests": [
            {"time": b.time, "success": b.success, "failed": b.failed}
            for b in stats.recent_requests
        ],
    }
