"""Shared pytest set-up: tests are marked by the folder they live in."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.oauth import OAuthFakes

_TESTS = Path(__file__).parent
_MARK_BY_FOLDER = {"unit": "unit", "integration": "integration", "e2e": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).relative_to(_TESTS).parts[0]
        marker = _MARK_BY_FOLDER.get(folder)
        if marker is None and folder not in {"fakes"}:
            raise pytest.UsageError(f"test outside unit/, integration/ or e2e/: {item.nodeid}")
        if marker:
            item.add_marker(marker)


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unused_port() -> int:
    return free_port()


@pytest.fixture
async def oauth_fakes() -> AsyncIterator[OAuthFakes]:
    """Every OAuth provider's fake services on free ports; `.overrides` goes into config.yaml."""
    async with OAuthFakes() as fakes:
        yield fakes
