"""Time limits on the awaits of one upstream attempt, kept by one timer.

`asyncio.timeout` arms and cancels a timer each time it is used, about 5 us under uvloop
(a libuv timer per use); a stream relay bounds every read, so that was paid per chunk. A
`Deadline` bounds one await at a time like `asyncio.timeout` does (the task is cancelled when
the limit passes and the await raises TimeoutError; a cancellation from elsewhere stays a
cancellation), but its timer is armed once and only re-armed when it fires early: a new
limit that ends later than the armed timer just notes its end, and the timer, when it fires
before that end, sets itself again for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

# A timer may fire up to a clock tick early (uvloop counts milliseconds): within this of the
# end counts as the end, as it does for asyncio.timeout, which never looks at the clock.
_SLACK = 0.001


class Deadline:
    """Bounds the awaits of the task that created it, one at a time; `close` when done."""

    __slots__ = ("_active", "_end", "_expired", "_handle", "_loop", "_task", "_timer_end")

    def __init__(self) -> None:
        # (each asyncio.get_running_loop() asks the kernel for the pid: once, not twice)
        self._loop = loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None, "a Deadline bounds the awaits of a task"
        self._task = task
        self._handle: asyncio.TimerHandle | None = None
        self._timer_end = 0.0  # when the armed timer fires
        self._end = 0.0  # when the await in progress runs out of time
        self._active = False  # an await is in progress
        self._expired = False  # this deadline cancelled the task

    async def within(self, seconds: float, awaitable: Awaitable[T]) -> T:
        """`await awaitable`, or TimeoutError once `seconds` have passed."""
        loop = self._loop
        end = self._end = loop.time() + seconds
        handle = self._handle
        if handle is None or end < self._timer_end:
            if handle is not None:
                handle.cancel()
            self._timer_end = end
            self._handle = loop.call_at(end, self._fire)
        task = self._task
        cancelling = task.cancelling()
        self._active = True
        try:
            return await awaitable
        except asyncio.CancelledError:
            if self._expired:
                self._expired = False
                if task.uncancel() <= cancelling:
                    raise TimeoutError from None  # ours alone: the time ran out
            raise
        finally:
            self._active = False
            if self._expired:  # the await ended otherwise before our cancel reached it
                self._expired = False
                task.uncancel()

    def close(self) -> None:
        """Disarm the timer (the attempt is over)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        if not self._active:
            return  # between awaits: the next one arms the timer again
        if self._loop.time() + _SLACK < self._end:
            self._timer_end = self._end
            self._handle = self._loop.call_at(self._end, self._fire)
            return
        self._expired = True
        self._task.cancel()
