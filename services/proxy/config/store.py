"""The live config: one file on disk, one validated snapshot in memory, serialized writers.

Readers take `store.current` (an immutable snapshot). Writers go through `edit()` or
`replace_text()`, which validate first, write atomically (temp file + rename), then apply.
A watcher polls the file so hand edits apply within about a second; an invalid file keeps the
last good config and logs why.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from ruamel.yaml.comments import CommentedMap

from .files import write_atomic
from .loader import (
    ConfigError,
    LoadedConfig,
    dump_document,
    load_file,
    parse_document,
    validate_text,
)

log = structlog.get_logger(__name__)

Listener = Callable[[LoadedConfig], Awaitable[None] | None]
RejectListener = Callable[[ConfigError | OSError], None]


class ConfigStore:
    """Owns `config.yaml`: the current snapshot, atomic persistence and change notification."""

    def __init__(self, path: Path, *, poll_interval: float = 0.25) -> None:
        self.path = path
        self.poll_interval = poll_interval
        self.current: LoadedConfig = load_file(path)
        self._listeners: list[Listener] = []
        self._reject_listeners: list[RejectListener] = []
        self._write_lock = asyncio.Lock()
        self._last_stat: tuple[float, int] | None = self._stat()
        self._watch_task: asyncio.Task[None] | None = None
        for warning in self.current.warnings:
            log.warning("config_unknown_key", detail=warning)

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` with every newly applied config."""
        self._listeners.append(listener)

    def on_reject(self, listener: RejectListener) -> None:
        """Call `listener` whenever a changed file on disk is refused (the old config stays)."""
        self._reject_listeners.append(listener)

    async def replace_text(self, text: str) -> LoadedConfig:
        """Validate, persist atomically and apply `text`; on ConfigError nothing changes."""
        async with self._write_lock:
            loaded = validate_text(text)
            await asyncio.to_thread(self._write_atomic, text)
            await self._apply(loaded, source="api")
            return loaded

    async def edit(self, mutate: Callable[[CommentedMap], None]) -> LoadedConfig:
        """Read-modify-write under the lock: `mutate` edits the round-trip document in place."""
        async with self._write_lock:
            text = await asyncio.to_thread(self.path.read_text, "utf-8")
            doc = parse_document(text)
            mutate(doc)
            new_text = dump_document(doc)
            loaded = validate_text(new_text)
            if new_text != text:  # an edit that changes nothing leaves the file untouched
                await asyncio.to_thread(self._write_atomic, new_text)
            await self._apply(loaded, source="api")
            return loaded

    def _write_atomic(self, text: str) -> None:
        write_atomic(self.path, text)
        self._last_stat = self._stat()

    async def _apply(self, loaded: LoadedConfig, *, source: str) -> None:
        if loaded.digest == self.current.digest:
            return
        self.current = loaded
        for warning in loaded.warnings:
            log.warning("config_unknown_key", detail=warning)
        log.info("config_applied", source=source, digest=loaded.digest[:12])
        for listener in self._listeners:
            result = listener(loaded)
            if result is not None:
                await result

    def _stat(self) -> tuple[float, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    async def check_file(self) -> None:
        """Reload when the file changed on disk; keep the last good config if it is invalid."""
        stat = await asyncio.to_thread(self._stat)
        if stat is None or stat == self._last_stat:
            return
        async with self._write_lock:
            self._last_stat = stat
            try:
                loaded = await asyncio.to_thread(load_file, self.path)
            except (ConfigError, OSError) as exc:
                log.error("config_reload_rejected", reason=str(exc))
                for listener in self._reject_listeners:
                    listener(exc)
                return
            await self._apply(loaded, source="file")

    async def watch(self) -> None:
        """Poll the file until cancelled."""
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.check_file()
            except Exception:  # a bug in a listener must not stop hot reload
                log.exception("config_watch_failed")

    def start(self) -> None:
        self._watch_task = asyncio.get_running_loop().create_task(self.watch())

    async def stop(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
