"""Every lean-client case runs on both loops: the proxy serves on uvloop, tests default to
asyncio, and their transports differ (uvloop's are not asyncio.Transport subclasses)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
import uvloop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, object]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
