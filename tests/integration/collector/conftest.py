"""Fixtures for collector tests: a fake proxy outbox and an in-process collector runner."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from services.collector.worker import Collector
from tests.fakes.usage_source import FakeUsageSource
from tests.integration.collector.helpers import API_KEY, settings_for


@pytest.fixture
async def source() -> AsyncIterator[FakeUsageSource]:
    fake = FakeUsageSource(instance_id="proxy-a", api_key=API_KEY)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def start_collector(
    database_url: str,
) -> AsyncIterator[Callable[..., Any]]:
    """`await start_collector(*urls, **settings)` runs a Collector task; stopped at teardown."""
    running: list[tuple[Collector, asyncio.Task[None]]] = []

    async def start(*urls: str, **overrides: object) -> Collector:
        collector = Collector(settings_for(database_url, *urls, **overrides))
        task = asyncio.create_task(collector.run())
        running.append((collector, task))
        return collector

    yield start
    for collector, _ in running:
        collector.stop()
    for _, task in running:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
