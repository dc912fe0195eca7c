"""This dashboard replica's own log records, kept in memory (the newest 2000, after the same
redaction as its stderr): `__main__` hands `RingHandler(RING)` to the logging set-up. Each
replica shows its own; the Containers page shows every replica's container output."""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from dataclasses import dataclass

SIZE = 2000
_LEVELS = {"warning": "warn", "critical": "fatal"}


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    at: float
    level: str
    text: str


class LogRing:
    def __init__(self, size: int = SIZE) -> None:
        self._records: deque[Record] = deque(maxlen=size)
        self._seq = 0
        self._lock = threading.Lock()
        self.name = f"dashboard {socket.gethostname()}"

    def add(self, at: float, level: str, text: str) -> None:
        level = level.lower()
        with self._lock:
            self._seq += 1
            self._records.append(Record(self._seq, at, _LEVELS.get(level, level), text))

    def after(self, seq: int, limit: int) -> tuple[list[Record], int]:
        """Records newer than `seq` (the newest `limit`), and the cursor to follow from."""
        with self._lock:
            newer = [r for r in self._records if r.seq > seq]
            last = self._seq
        return newer[-limit:], last

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


class RingHandler(logging.Handler):
    """A logging handler writing formatted records into a ring (never raises)."""

    def __init__(self, ring: LogRing) -> None:
        super().__init__()
        self.ring = ring

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.ring.add(record.created, record.levelname, self.format(record))
        except Exception:  # logging must never break the caller
            self.handleError(record)


RING = LogRing()
