"""Cooldowns per credential x model, by status class, persisted under `state/`.

401/402/403 cool 30 minutes, 404 12 hours, 429 the upstream's Retry-After (capped so a hint of
days is re-probed: `max-cooldown-seconds`, 30 minutes by default) or 1 s x 2^n up to the same
cap, 408/5xx/network errors 60 seconds; 400-class input errors never cool. A success clears the
entry. A credential-wide entry (model `*`: a subscription's quota is spent) cools every model of
that credential. The state is written (atomically, off the
event loop) soon after every change and restored at start, so a restart does not forget them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
import structlog

from ..config.files import write_atomic

log = structlog.get_logger(__name__)

AUTH_COOLDOWN = 30 * 60.0
NOT_FOUND_COOLDOWN = 12 * 3600.0
TRANSIENT_COOLDOWN = 60.0
RATE_LIMIT_CAP = 30 * 60.0
RETRYABLE_STATUSES = frozenset({403, 408, 429, 500, 502, 503, 504})
NETWORK_ERROR = 0  # status recorded for connect errors and timeouts
ALL_MODELS = "*"  # the model of a credential-wide entry


def cooldown_seconds(
    status: int, retry_after: float | None, level: int, cap: float = RATE_LIMIT_CAP
) -> float:
    """How long a failure with this status cools a credential for one model (0 = not at all)."""
    if status in (401, 402, 403):
        return AUTH_COOLDOWN
    if status == 404:
        return NOT_FOUND_COOLDOWN
    if status == 429:
        if retry_after is not None and retry_after > 0:
            return min(retry_after, cap)
        return min(float(2 ** min(level, 30)), cap)
    if status == NETWORK_ERROR or status == 408 or status >= 500:
        return TRANSIENT_COOLDOWN
    return 0.0


@dataclass(slots=True)
class Entry:
    until: float
    level: int
    status: int


class Cooldowns:
    """In-memory cooldown table with write-behind persistence to a JSON file."""

    def __init__(self, path: Path | None, *, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._entries: dict[tuple[str, str], Entry] = {}
        # Entries another worker process observed (routing/shared_cooldowns.py): applied here,
        # never written to this process's file, dropped when the other worker drops them.
        self._adopted: set[tuple[str, str]] = set()
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._write_lock = threading.Lock()
        if path is not None:
            self._restore(path)

    def until(self, cred_id: str, model: str) -> float:
        """Epoch second the pair stops cooling, or 0.0 when it is usable."""
        entries = self._entries
        if not entries:
            return 0.0
        entry = entries.get((cred_id, model))
        whole = entries.get((cred_id, ALL_MODELS))
        until = max(entry.until if entry else 0.0, whole.until if whole else 0.0)
        return until if until > self._clock() else 0.0

    def record_failure(
        self,
        cred_id: str,
        model: str,
        status: int,
        retry_after: float | None = None,
        *,
        cap: float = RATE_LIMIT_CAP,
    ) -> float:
        """Cool the pair according to the status (model ALL_MODELS: the whole credential);
        returns the cooldown in seconds."""
        key = (cred_id, model)
        previous = self._entries.get(key)
        level = previous.level + 1 if previous is not None and previous.status == 429 else 0
        seconds = cooldown_seconds(status, retry_after, level, cap)
        if seconds <= 0:
            return 0.0
        self._entries[key] = Entry(until=self._clock() + seconds, level=level, status=status)
        self._adopted.discard(key)
        self._dirty.set()
        return seconds

    def record_success(self, cred_id: str, model: str) -> None:
        entries = self._entries
        if not entries:
            return
        # An answer proves the credential serves again: its credential-wide entry goes too.
        one = entries.pop((cred_id, model), None)
        whole = entries.pop((cred_id, ALL_MODELS), None)
        if one is not None or whole is not None:
            self._dirty.set()

    def clear_status(self, cred_id: str, status: int) -> int:
        """Clear one credential's entries caused by `status` (401s after a token refresh)."""
        keys = [k for k, e in self._entries.items() if k[0] == cred_id and e.status == status]
        for key in keys:
            del self._entries[key]
        if keys:
            self._dirty.set()
        return len(keys)

    def reset(self, cred_id: str | None = None) -> int:
        """Clear the cooldowns of one credential (or all); returns how many were cleared."""
        keys = [k for k in self._entries if cred_id is None or k[0] == cred_id]
        for key in keys:
            del self._entries[key]
        if keys:
            self._dirty.set()
        return len(keys)

    def merge_shared(self, shared: dict[tuple[str, str], Entry]) -> None:
        """Apply what the other worker processes cool now (their files, merged).

        An entry this process observed itself stays as it is; one adopted earlier follows the
        other worker (later `until`, or gone when that worker cleared it).
        """
        for key in [k for k in self._adopted if k not in shared]:
            self._adopted.discard(key)
            self._entries.pop(key, None)
        for key, entry in shared.items():
            own = self._entries.get(key)
            if own is None or key in self._adopted:
                self._entries[key] = entry
                self._adopted.add(key)

    def active(self) -> list[dict[str, object]]:
        """The pairs cooling now, for metrics and the management API."""
        now = self._clock()
        return [
            {"auth_index": c, "model": m, "until": e.until, "status": e.status}
            for (c, m), e in self._entries.items()
            if e.until > now
        ]

    def _restore(self, path: Path) -> None:
        try:
            raw = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("cooldown_state_unreadable", path=str(path), reason=str(exc))
            return
        now = self._clock()
        for item in raw.get("entries", []):
            try:
                entry = Entry(float(item["until"]), int(item["level"]), int(item["status"]))
                key = (str(item["auth_index"]), str(item["model"]))
            except (KeyError, TypeError, ValueError):
                continue
            if entry.until > now:
                self._entries[key] = entry
        log.info("cooldowns_restored", count=len(self._entries))

    @property
    def path(self) -> Path | None:
        return self._path

    def _serialize(self) -> bytes:
        now = self._clock()
        adopted = self._adopted
        entries = [
            {"auth_index": c, "model": m, **asdict(e)}
            for (c, m), e in self._entries.items()
            if e.until > now and (c, m) not in adopted
        ]
        return orjson.dumps({"version": 1, "entries": entries})

    def _write(self, data: bytes) -> None:
        # A cancelled persist task leaves its thread running, so close() may write at the same
        # time: the lock orders the two writes and the unique temp name keeps them apart.
        assert self._path is not None
        with self._write_lock:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self._path, data)

    def _save(self, data: bytes) -> None:
        """Write the state; a failure (a full disk) keeps the last saved state and is logged."""
        try:
            self._write(data)
        except OSError as exc:
            log.error("cooldown_state_write_failed", reason=str(exc))

    async def _persist_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await asyncio.to_thread(self._save, self._serialize())

    def start(self) -> None:
        if self._path is not None:
            self._task = asyncio.get_running_loop().create_task(self._persist_loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._save(self._serialize())
