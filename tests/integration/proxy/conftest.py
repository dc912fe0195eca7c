"""Fixtures for proxy integration tests: a fake OpenAI upstream and the proxy in front of it."""

from __future__ import annotations

import pytest

from tests.fakes.openai_upstream import FakeOpenAI


@pytest.fixture
async def fake():
    async with FakeOpenAI() as upstream:
        yield upstream
