"""OAuth credential files in the auth directory: safe names, bounded JSON, atomic writes.

The management routes, the refresher's write-backs and logins all go through one
`AuthFileStore` (and its owner's lock), so read-modify-writes never race.

A file's `auth_index` is the first 16 hex characters of sha256("auth-file" NUL provider NUL name),
the same scheme as config credentials (sha256 over NUL-joined identity parts), so it survives
restarts and content edits but changes when the file is renamed or its `type` changes.
Listings never carry the tokens inside the files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from services.core.errors import BadRequest, NotFound, PayloadTooLarge

from ..config.files import write_atomic

_NAME = re.compile(r"^[A-Za-z0-9@+=,_\-][A-Za-z0-9@+=,._\- ]{0,199}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9@+=,._\-]+")
_DOTS = re.compile(r"\.{2,}")  # "..", never part of a name
FileSignature = tuple[int, int, int]


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


def safe_name(*parts: str) -> str:
    """A `.json` file name made of `parts` joined by "-", every unsafe run of characters
    turned into "-" (e-mails keep their @ and dots): `safe_name("claude", email)`."""
    cleaned = [_DOTS.sub(".", _UNSAFE.sub("-", p)).strip("-.") for p in parts if p]
    stem = "-".join(p for p in cleaned if p)[:190] or "account"
    return validate_name(f"{stem}.json")


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
        files = []
        for name in sorted(self.signatures()):
            with contextlib.suppress(FileNotFoundError):  # deleted while listing
                files.append(self._load(self.directory / name))
        return files

    def signatures(self) -> dict[str, FileSignature]:
        """(mtime ns, size, inode) of every auth file by name: a cheap way to see changes."""
        found: dict[str, FileSignature] = {}
        try:
            entries = list(os.scandir(self.directory))
        except (FileNotFoundError, NotADirectoryError):
            return found
        for entry in entries:
            name = entry.name
            if name.startswith(".") or not name.lower().endswith(".json"):
                continue
            with contextlib.suppress(OSError):  # deleted while listing
                if entry.is_file():
                    st = entry.stat()
                    found[name] = (st.st_mtime_ns, st.st_size, st.st_ino)
        return found

    def load(self, name: str) -> AuthFile:
        """One file as it is now (FileNotFoundError when it is gone)."""
        return self._load(self.directory / name)

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
