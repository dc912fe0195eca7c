"""The proxy's files under `logs/`: `main.log` (rotating), per-request error logs, a size cap.

`main.log` lines use the format CLIProxyAPI's Management Center parses:
`[YYYY-MM-DD HH:MM:SS] [<8 hex request id>|--------] [level] [file:line] message` (local time,
level padded to five characters).
Every line goes through `redact_text`, so secrets never reach the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable, Collection
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO

import orjson
import structlog

from services.core.logging import redact_text

from ..config.files import write_atomic

MAIN_LOG = "main.log"
ROTATED_LOG = re.compile(r"^main-[0-9T:\-.]+\.log$")
ERROR_LOG = re.compile(r"^error-[A-Za-z0-9._\-]+\.log$")
LINE_TIMESTAMP = re.compile(r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\]")
NO_REQUEST_ID = "--------"
_TS_FORMAT = "%Y-%m-%d %H:%M:%S"
# Frames of these files are logging machinery, not the caller a line should name.
_MACHINERY = (
    os.path.dirname(logging.__file__),
    os.path.dirname(structlog.__file__),
    __file__,
)
_HIDDEN_EVENT_KEYS = frozenset(
    {"event", "timestamp", "level", "logger", "request_id", "_record", "_from_structlog"}
)
_LEVELS = {"WARNING": "warn", "CRITICAL": "fatal"}

log = structlog.get_logger(__name__)


def line_timestamp(line: str) -> float | None:
    """Unix time of a `main.log` line, None for continuation lines."""
    match = LINE_TIMESTAMP.match(line)
    if match is None:
        return None
    return datetime.strptime(match.group(1), _TS_FORMAT).timestamp()


def short_request_id(request_id: object) -> str:
    """The 8 hex characters the line format carries, or dashes when there is no request."""
    hexchars = re.sub(r"[^0-9a-f]", "", str(request_id or "").lower())
    return hexchars[:8] if len(hexchars) >= 8 else NO_REQUEST_ID


def _caller(record: logging.LogRecord) -> str:
    if not record.pathname.startswith(_MACHINERY[1]):
        return f"{record.filename}:{record.lineno}"
    # structlog records point at structlog itself; the real caller is further up the stack.
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_MACHINERY):
        frame = frame.f_back
    if frame is None:
        return f"{record.filename}:{record.lineno}"
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def _format_value(value: Any) -> str:
    if isinstance(value, str) and value and not re.search(r"[\s\"=]", value):
        return value
    return orjson.dumps(value, default=str).decode()


def _message(record: logging.LogRecord) -> tuple[str, object]:
    """(message text, request id) of a stdlib record or a structlog event dict."""
    if isinstance(record.msg, dict):
        event = dict(record.msg)
        text = str(event.get("event", ""))
        extras = " ".join(
            f"{k}={_format_value(v)}" for k, v in event.items() if k not in _HIDDEN_EVENT_KEYS
        )
        request_id = event.get("request_id")
        message = f"{text} {extras}" if extras else text
    else:
        message = record.getMessage()
        request_id = structlog.contextvars.get_contextvars().get("request_id")
    if record.exc_info:
        message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
    return message, request_id


def format_line(record: logging.LogRecord) -> str:
    """One `main.log` entry (may span lines when it carries a traceback), redacted."""
    message, request_id = _message(record)
    stamp = datetime.fromtimestamp(record.created).strftime(_TS_FORMAT)
    # Padded to 5 like CLIProxyAPI's logrus formatter: "[info ]", "[warn ]", "[error]".
    level = _LEVELS.get(record.levelname, record.levelname.lower()).ljust(5)
    line = f"[{stamp}] [{short_request_id(request_id)}] [{level}] [{_caller(record)}] {message}"
    return redact_text(line) + "\n"


class MainLogHandler(logging.Handler):
    """Appends formatted lines to `main.log`, rotating it to `main-<time>.log` at `max_bytes`.

    It renders lines itself, so a formatter set by `configure_logging` does not change the format.
    """

    def __init__(
        self, logs_dir: Path, *, max_bytes: int = 10 * 1024 * 1024, max_rotated: int = 10
    ) -> None:
        super().__init__()
        self.logs_dir = logs_dir
        self.path = logs_dir / MAIN_LOG
        self.max_bytes = max_bytes
        self.max_rotated = max_rotated
        self._stream: BinaryIO | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = format_line(record).encode("utf-8", "replace")
            stream = self._open()
            if stream.tell() and stream.tell() + len(data) > self.max_bytes:
                stream = self._rotate()
            stream.write(data)
            stream.flush()
        except Exception:
            self.handleError(record)

    def _open(self) -> BinaryIO:
        if self._stream is None:
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            # Append mode: tell() follows the real end even after DELETE /logs truncates it.
            self._stream = open(self.path, "ab")  # noqa: SIM115  # closed in close()/_rotate()
        return self._stream

    def _rotate(self) -> BinaryIO:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        stamp = datetime.now().strftime("%Y-%m-%dT%H-%M-%S.%f")[:-3]
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.path, self.logs_dir / f"main-{stamp}.log")
        rotated = sorted(p for p in self.logs_dir.iterdir() if ROTATED_LOG.match(p.name))
        for old in rotated[: max(0, len(rotated) - self.max_rotated)]:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
        return self._open()

    def close(self) -> None:
        self.acquire()
        try:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
        finally:
            self.release()
        super().close()


class ErrorLogWriter:
    """Writes `error-<time>-<request id>.log` files, keeping only the newest `max_files()`."""

    def __init__(self, logs_dir: Path, max_files: Callable[[], int]) -> None:
        self.logs_dir = logs_dir
        self.max_files = max_files
        self._lock = threading.Lock()

    def write(self, request_id: str, text: str) -> Path:
        """Blocking: call it through `asyncio.to_thread` from the event loop."""
        safe_id = re.sub(r"[^A-Za-z0-9\-]", "", request_id)[:64] or "unknown"
        stamp = datetime.now().strftime("%Y-%m-%dT%H%M%S.%f")
        path = self.logs_dir / f"error-{stamp}-{safe_id}.log"
        with self._lock:
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            # Never torn for a reader of GET /request-error-logs; not worth an fsync.
            write_atomic(path, redact_text(text), durable=False)
            self._prune()
        return path

    def _prune(self) -> None:
        keep = self.max_files()
        if keep <= 0:  # 0 disables the count limit (the total-size cap still applies)
            return
        files = sorted(
            (p for p in self.logs_dir.iterdir() if ERROR_LOG.match(p.name)),
            key=lambda p: (p.stat().st_mtime, p.name),
        )
        for old in files[: max(0, len(files) - keep)]:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()


def enforce_total_size(
    logs_dir: Path, max_total_bytes: int, *, protect: Collection[Path] = ()
) -> list[Path]:
    """Delete the oldest files under `logs_dir`, subdirectories included, until under the cap.

    CLIProxyAPI's cleaner only looked at the top folder (its issue #1657), so request logs in
    subfolders grew without bound; this walks the whole tree. 0 means no cap.
    """
    if max_total_bytes <= 0 or not logs_dir.is_dir():
        return []
    files: list[tuple[float, int, Path]] = []
    for root, _dirs, names in os.walk(logs_dir):
        for name in names:
            path = Path(root) / name
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    kept = {p.resolve() for p in protect}
    deleted: list[Path] = []
    for _mtime, size, path in sorted(files):
        if total <= max_total_bytes:
            break
        if path.resolve() in kept:
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            total -= size
            deleted.append(path)
    return deleted


async def run_log_janitor(
    logs_dir: Path, max_total_mb: Callable[[], int], *, interval: float = 60.0
) -> None:
    """Apply `logs-max-total-size-mb` every `interval` seconds until cancelled."""
    while True:
        cap = max_total_mb() * 1024 * 1024
        deleted = await asyncio.to_thread(
            enforce_total_size, logs_dir, cap, protect=(logs_dir / MAIN_LOG,)
        )
        if deleted:
            log.info("logs_pruned", files=len(deleted))
        await asyncio.sleep(interval)
