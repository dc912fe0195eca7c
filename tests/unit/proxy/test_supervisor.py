"""The parent of worker processes: when it gives up instead of restarting forever."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from services.proxy import supervisor
from services.proxy.supervisor import Supervisor


class ScriptedSupervisor(Supervisor):
    """Workers that run `code` instead of the proxy."""

    code: str = "raise SystemExit(2)"

    def argv(self, index: int) -> list[str]:
        return [sys.executable, "-c", self.code]


async def test_a_worker_with_an_invalid_config_stops_the_proxy_with_its_code():
    parent = ScriptedSupervisor(Path("config.yaml"), 2)
    assert await parent.run() == 2


async def test_a_worker_that_keeps_dying_at_start_stops_the_proxy(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(supervisor, "RESTART_DELAYS", (0.0,))
    parent = ScriptedSupervisor(Path("config.yaml"), 1)
    parent.code = "raise SystemExit(1)"
    assert await parent.run() == 1
    assert parent.slots[0].quick_exits == supervisor.MAX_QUICK_EXITS
