"""One token refresh per auth file across the proxy's worker processes (docs/workers.md).

Rotating providers revoke a refresh token on use, so two workers refreshing the same account at
once would leave one of them with a revoked token. The refresher takes an flock on a hidden file
next to the auth file (the pool skips dot files), then re-reads the auth file: when another
worker refreshed meanwhile, its tokens are adopted instead of calling the provider again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

POLL_S = 0.05


class RefreshLocks:
    def __init__(self, directory: Path, poll: float = POLL_S) -> None:
        self.directory = directory
        self.poll = poll

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        """Hold the refresh lock of auth file `name` (waiting for another worker's refresh)."""
        path = self.directory / f".{name}.refresh-lock"
        fd = await asyncio.to_thread(os.open, path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            while True:
                if _try_lock(fd):
                    break
                await asyncio.sleep(self.poll)  # another process refreshes; flock has no event
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
