"""The attempt's Deadline: asyncio.timeout's behaviour for each await, one timer for many."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.proxy.upstream.deadline import Deadline


async def _value_later(value: str, seconds: float) -> str:
    await asyncio.sleep(seconds)
    return value


async def test_an_await_within_its_limit_returns_its_value():
    deadline = Deadline()
    try:
        assert await deadline.within(5, _value_later("ok", 0.01)) == "ok"
    finally:
        deadline.close()


async def test_an_await_past_its_limit_raises_timeout_and_the_task_goes_on():
    deadline = Deadline()
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError):
            await deadline.within(0.05, asyncio.Event().wait())
        elapsed = time.monotonic() - started
        assert 0.04 <= elapsed < 1.0
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
        assert await deadline.within(5, _value_later("after", 0)) == "after"
    finally:
        deadline.close()


async def test_each_await_gets_its_own_limit_after_many_quick_ones():
    """Thousands of awaits that end at once, then one that stalls: it times out at its own
    limit, counted from its start (the one timer was re-armed for it)."""
    deadline = Deadline()
    try:
        for _ in range(2000):
            await deadline.within(0.2, _value_later("x", 0))
        await asyncio.sleep(0.1)  # part of the first limit passes between awaits
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await deadline.within(0.2, asyncio.Event().wait())
        assert time.monotonic() - started >= 0.19
    finally:
        deadline.close()


async def test_a_shorter_limit_than_the_armed_timer_is_kept():
    deadline = Deadline()
    try:
        await deadline.within(30, _value_later("x", 0))
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await deadline.within(0.05, asyncio.Event().wait())
        assert time.monotonic() - started < 5
    finally:
        deadline.close()


async def test_the_timer_never_cancels_the_task_between_awaits():
    """A limit that runs out while the task does something else (writes to the client) is not
    that work's limit: nothing is cancelled."""
    deadline = Deadline()
    try:
        await deadline.within(0.02, _value_later("x", 0))
        await asyncio.sleep(0.1)
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    finally:
        deadline.close()


async def test_a_cancellation_from_elsewhere_stays_a_cancellation():
    """The client leaving cancels the handler task: that is not a timeout."""
    started = asyncio.Event()

    async def handler() -> None:
        deadline = Deadline()
        try:
            started.set()
            await deadline.within(5, asyncio.Event().wait())
        finally:
            deadline.close()

    task = asyncio.create_task(handler())
    await started.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _cancelled_as_time_runs_out(bounded) -> str:
    """A task cancelled from elsewhere in the same loop turn as its limit runs out."""

    async def handler() -> str:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().call_soon(task.cancel)  # runs just before the timer
        try:
            await bounded(0, asyncio.Event().wait())
        except TimeoutError:
            return "timeout"
        return "returned"

    try:
        return await asyncio.create_task(handler())
    except asyncio.CancelledError:
        return "cancelled"


async def test_a_cancellation_together_with_the_timeout_stays_a_cancellation():
    """asyncio.timeout's rule, kept: when the task was also cancelled from elsewhere, the
    cancellation wins over the timeout."""

    async def with_asyncio_timeout(seconds: float, awaitable) -> object:
        async with asyncio.timeout(seconds):
            return await awaitable

    async def with_deadline(seconds: float, awaitable) -> object:
        deadline = Deadline()
        try:
            return await deadline.within(seconds, awaitable)
        finally:
            deadline.close()

    assert await _cancelled_as_time_runs_out(with_asyncio_timeout) == "cancelled"
    assert await _cancelled_as_time_runs_out(with_deadline) == "cancelled"


async def test_close_disarms_the_timer():
    deadline = Deadline()
    await deadline.within(0.02, _value_later("x", 0))
    deadline.close()
    await asyncio.sleep(0.05)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
