"""`/logs` (tail with `after`, `limit` and a follow cursor; clear) and the request error logs.

The cursor is opaque to clients: base64 of the main.log identity (device, inode) and the byte
offset after the last complete line returned. A rotated or truncated file resets it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import structlog
from aiohttp import web

from services.core.errors import BadRequest, NotFound
from services.proxy.observability.logfiles import ERROR_LOG, MAIN_LOG, ROTATED_LOG, line_timestamp

from .bodies import query_int
from .context import ManagementContext
from .middleware import MANAGEMENT_PREFIX, json_response

log = structlog.get_logger(__name__)

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
_BLOCK = 64 * 1024
_MAX_FOLLOW_BYTES = 4 * 1024 * 1024  # beyond this a follow read restarts from the tail
_REQUEST_ID = re.compile(r"^[A-Za-z0-9\-]{1,64}$")


@dataclass(frozen=True, slots=True)
class LogPage:
    lines: list[str]
    latest: float
    cursor: str
    reset: bool = False


def _reverse_lines(path: Path) -> Iterator[str]:
    """Complete lines of a file, last first; a partly written final line is skipped."""
    with path.open("rb") as handle:
        pos = handle.seek(0, os.SEEK_END)
        buf, seen_newline = b"", False
        while pos > 0:
            size = min(_BLOCK, pos)
            pos -= size
            handle.seek(pos)
            parts = (handle.read(size) + buf).split(b"\n")
            buf = parts[0]
            tail = parts[1:]
            if not seen_newline and tail:
                tail, seen_newline = tail[:-1], True  # drop what follows the final newline
            for raw in reversed(tail):
                yield raw.decode("utf-8", "replace").rstrip("\r")
        if seen_newline and buf:
            yield buf.decode("utf-8", "replace").rstrip("\r")


def _log_files(logs_dir: Path) -> list[Path]:
    """main.log first, then rotated files newest first."""
    if not logs_dir.is_dir():
        return []
    rotated = sorted((p for p in logs_dir.iterdir() if ROTATED_LOG.match(p.name)), reverse=True)
    main = logs_dir / MAIN_LOG
    return ([main] if main.is_file() else []) + rotated


def tail(logs_dir: Path, limit: int, after: float | None) -> tuple[list[str], float]:
    """The newest `limit` lines written after `after`, oldest first, and their latest time."""
    newest_first: list[str] = []
    pending: list[str] = []  # continuation lines wait for the entry line they belong to
    latest = 0.0
    for path in _log_files(logs_dir):
        with contextlib.suppress(FileNotFoundError):
            for line in _reverse_lines(path):
                stamp = line_timestamp(line)
                if stamp is None:
                    pending.append(line)
                    continue
                if after is not None and stamp <= after:
                    return newest_first[:limit][::-1], latest
                latest = max(latest, stamp)
                newest_first += [*pending, line]
                pending.clear()
                if len(newest_first) >= limit:
                    return newest_first[:limit][::-1], latest
    newest_first += pending
    return newest_first[:limit][::-1], latest


def _identity(path: Path) -> tuple[int, int, int] | None:
    """(device, inode, size) of main.log, None when it does not exist."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_size


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a follower stopped: main.log's (device, inode), byte offset and newest time seen."""

    dev: int
    ino: int
    offset: int
    latest: int = 0

    def encode(self) -> str:
        raw = orjson.dumps({"d": self.dev, "i": self.ino, "o": self.offset, "t": self.latest})
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        try:
            data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            values = (data["d"], data["i"], data["o"], data.get("t", 0))
        except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
            return None
        return cls(*values)


def _complete_end(path: Path) -> int:
    """Offset just after the last newline of the file (0 when there is none)."""
    return next(_newline_offsets_from_end(path), 0)


def _newline_offsets_from_end(path: Path) -> Iterator[int]:
    with path.open("rb") as handle:
        pos = handle.seek(0, os.SEEK_END)
        while pos > 0:
            size = min(_BLOCK, pos)
            pos -= size
            handle.seek(pos)
            index = handle.read(size).rfind(b"\n")
            if index >= 0:
                yield pos + index + 1
                return


def follow(logs_dir: Path, text: str, limit: int) -> LogPage | None:
    """Lines appended since the cursor; None when the cursor no longer applies."""
    main = logs_dir / MAIN_LOG
    cursor, current = Cursor.decode(text), _identity(main)
    if cursor is None or current is None:
        return None
    dev, ino, size = current
    if (cursor.dev, cursor.ino) != (dev, ino) or not 0 <= size - cursor.offset <= _MAX_FOLLOW_BYTES:
        return None  # rotated, truncated, or too far behind: start again from the tail
    try:
        with main.open("rb") as handle:
            handle.seek(cursor.offset)
            chunk = handle.read(size - cursor.offset)
    except FileNotFoundError:
        return None
    complete = chunk[: chunk.rfind(b"\n") + 1]
    lines = [raw.decode("utf-8", "replace") for raw in complete.splitlines()]
    latest = int(max((s for s in map(line_timestamp, lines) if s is not None), default=0))
    latest = max(latest, cursor.latest)
    following = Cursor(dev, ino, cursor.offset + len(complete), latest)
    return LogPage(lines[-limit:], latest, following.encode())


def read_page(logs_dir: Path, limit: int, after: float | None, cursor: str | None) -> LogPage:
    if cursor:
        page = follow(logs_dir, cursor, limit)
        if page is not None:
            return page
    # Position first, read second: a line written in between is shown twice, never lost.
    current = _identity(logs_dir / MAIN_LOG)
    try:
        end = _complete_end(logs_dir / MAIN_LOG) if current is not None else 0
    except FileNotFoundError:
        current = None
    lines, latest = tail(logs_dir, limit, after)
    next_cursor = ""
    if current is not None:
        next_cursor = Cursor(current[0], current[1], end, int(latest)).encode()
    return LogPage(lines, latest, next_cursor, reset=bool(cursor))


def clear_logs(logs_dir: Path) -> int:
    """Truncate main.log (its writer keeps appending) and remove rotated files."""
    removed = 0
    for path in _log_files(logs_dir):
        with contextlib.suppress(FileNotFoundError):
            if path.name == MAIN_LOG:
                os.truncate(path, 0)
            else:
                path.unlink()
                removed += 1
    return removed


def list_error_logs(logs_dir: Path) -> list[dict[str, Any]]:
    if not logs_dir.is_dir():
        return []
    files = []
    for path in logs_dir.iterdir():
        if ERROR_LOG.match(path.name) and path.is_file():
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                files.append(
                    {"name": path.name, "size": stat.st_size, "modified": int(stat.st_mtime)}
                )
    return sorted(files, key=lambda f: (f["modified"], f["name"]), reverse=True)


def _after(request: web.Request) -> float | None:
    raw = request.query.get("after", "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise BadRequest("invalid after: expected unix seconds") from None


def _attachment(path: Path) -> web.FileResponse:
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{path.name}"',
        },
    )


def log_routes(ctx: ManagementContext) -> list[web.RouteDef]:
    logs_dir = ctx.logs_dir

    def require_file_logging() -> None:
        if not ctx.store.current.config.logging_to_file:
            raise BadRequest("logging to file disabled")

    async def get_logs(request: web.Request) -> web.Response:
        require_file_logging()
        limit = query_int(request, "limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        after, cursor = _after(request), request.query.get("cursor", "").strip() or None
        page = await asyncio.to_thread(read_page, logs_dir, limit, after, cursor)
        body: dict[str, Any] = {
            "lines": page.lines,
            "line-count": len(page.lines),
            "latest-timestamp": int(max(page.latest, after or 0)),
            "next-cursor": page.cursor,
        }
        if page.reset:
            body["cursor-reset"] = True
        return json_response(body)

    async def delete_logs(_request: web.Request) -> web.Response:
        require_file_logging()
        removed = await asyncio.to_thread(clear_logs, logs_dir)
        log.info("management_logs_cleared", removed=removed)
        return json_response(
            {"success": True, "message": "Logs cleared successfully", "removed": removed}
        )

    async def get_error_logs(_request: web.Request) -> web.Response:
        return json_response({"files": await asyncio.to_thread(list_error_logs, logs_dir)})

    async def get_error_log(request: web.Request) -> web.FileResponse:
        name = request.match_info["name"]
        if not ERROR_LOG.match(name) or ".." in name:
            raise BadRequest("invalid log file name")
        path = logs_dir / name
        if not await asyncio.to_thread(path.is_file):
            raise NotFound("log file not found")
        return _attachment(path)

    async def get_log_by_request_id(request: web.Request) -> web.FileResponse:
        request_id = request.match_info["id"]
        if not _REQUEST_ID.match(request_id):
            raise BadRequest("invalid request ID")
        suffix = f"-{request_id}.log"
        matches = await asyncio.to_thread(
            lambda: sorted(p for p in logs_dir.glob(f"*{suffix}") if p.is_file())
        )
        if not matches:
            raise NotFound("log file not found for the given request ID")
        return _attachment(matches[-1])

    base = MANAGEMENT_PREFIX
    return [
        web.get(f"{base}/logs", get_logs),
        web.delete(f"{base}/logs", delete_logs),
        web.get(f"{base}/request-error-logs", get_error_logs),
        web.get(f"{base}/request-error-logs/{{name}}", get_error_log),
        web.get(f"{base}/request-log-by-id/{{id}}", get_log_by_request_id),
    ]
