"""Skip a CLI's tests before any server starts when that CLI is not installed."""

from __future__ import annotations

import pytest

from .agents import require


@pytest.fixture(autouse=True)
def _cli_installed(request: pytest.FixtureRequest) -> None:
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and "cli" in callspec.params:
        require(callspec.params["cli"])
