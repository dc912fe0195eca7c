"""Cooldowns across worker processes (docs/workers.md): each worker writes its own file
(`state/cooldowns.json`, `state/cooldowns-worker-N.json`) and reads the others' every `poll`
seconds, so a credential one worker saw fail is avoided by every worker within about a second.

401s are not shared: they belong to one token, and the worker that refreshes it clears them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import orjson
import structlog

from .cooldowns import Cooldowns, Entry

log = structlog.get_logger(__name__)

POLL_S = 0.5
NOT_SHARED = frozenset({401})


def read_entries(path: Path, now: float) -> dict[tuple[str, str], Entry]:
    """The unexpired, shareable entries of one worker's cooldown file ({} when unreadable)."""
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}  # not written yet, or being replaced: the next poll reads it
    found: dict[tuple[str, str], Entry] = {}
    for item in raw.get("entries", []) if isinstance(raw, dict) else []:
        try:
            entry = Entry(float(item["until"]), int(item["level"]), int(item["status"]))
            key = (str(item["auth_index"]), str(item["model"]))
        except (KeyError, TypeError, ValueError):
            continue
        if entry.until > now and entry.status not in NOT_SHARED:
            found[key] = entry
    return found


def merged(paths: list[Path], now: float) -> dict[tuple[str, str], Entry]:
    """Every other worker's entries; the latest `until` wins for a pair cooled by several."""
    result: dict[tuple[str, str], Entry] = {}
    for path in paths:
        for key, entry in read_entries(path, now).items():
            if key not in result or entry.until > result[key].until:
                result[key] = entry
    return result


class CooldownSharing:
    def __init__(self, cooldowns: Cooldowns, own: Path, poll: float = POLL_S) -> None:
        self.cooldowns = cooldowns
        self.own = own
        self.poll = poll
        self._task: asyncio.Task[None] | None = None

    def others(self) -> list[Path]:
        pattern = f"{self.own.stem.split('-worker-')[0]}*{self.own.suffix}"
        return [p for p in sorted(self.own.parent.glob(pattern)) if p != self.own]

    async def sync(self) -> None:
        shared = await asyncio.to_thread(merged, self.others(), time.time())
        self.cooldowns.merge_shared(shared)

    async def _run(self) -> None:
        while True:
            try:
                await self.sync()
            except OSError as exc:
                log.warning("cooldown_sharing_failed", reason=str(exc))
            await asyncio.sleep(self.poll)  # polling files other processes write

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="cooldown-sharing")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
