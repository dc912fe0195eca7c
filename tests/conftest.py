"""Shared pytest set-up: tests are marked by the folder they live in; one Docker engine and one
set of stand-in images serve every test of a run that needs them (tests/docker/)."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.docker import budgets, standins
from tests.docker.engine import Engine, EngineUnavailable, start_engine
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


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Engine]:
    """A private Docker engine for the whole run; the tests that need one skip, naming the
    reason, where none can start (GATEWAY_TEST_REQUIRE_DOCKER=1 makes that a failure)."""
    try:
        engine = start_engine()
    except EngineUnavailable as exc:
        if os.environ.get("GATEWAY_TEST_REQUIRE_DOCKER") == "1":
            pytest.fail(f"no Docker engine (GATEWAY_TEST_REQUIRE_DOCKER=1): {exc}")
        pytest.skip(f"no Docker engine: {exc}")
    budgets.record("engine start", engine.started_in, "s")
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def standin_images(docker_engine: Engine) -> dict[str, str]:
    """Tags of the stand-ins for the official images, by recipe name (tests/docker/standins.py):
    python, node, postgres, socket-proxy."""
    return standins.provide(docker_engine)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    figures = budgets.lines()
    if figures:
        terminalreporter.write_sep("-", "Docker stack budgets (test-artifacts/docker-budgets.json)")
        for line in figures:
            terminalreporter.write_line(line)
        budgets.write(_TESTS.parent / "test-artifacts" / "docker-budgets.json")
