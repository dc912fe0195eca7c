"""The parent of N worker processes that share the proxy's port (`workers:` > 1).

The parent binds nothing and serves nothing: it starts `python -m services.proxy --worker I`
for each slot, restarts a worker that exits while the proxy runs, forwards SIGTERM/SIGINT to
every worker (each then stops gracefully within PROXY_SHUTDOWN_GRACE) and exits once all have.
A worker whose start fails over and over (a port in use, a broken config) stops the proxy
instead of restarting forever. Workers get SIGTERM if the parent dies (PR_SET_PDEATHSIG).

`python -m services.proxy` execs `python -m services.proxy.supervisor` (same pid) when it is
to run workers, so the parent holds none of the proxy's modules in memory (about 20 MiB
instead of 70). For the same reason it logs without structlog (whose import alone is about
30 MiB), in the same shape: one JSON object per line (`LOG_FORMAT=json`) or a console line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

LOGGER = "services.proxy.supervisor"
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}

QUICK_EXIT_S = 5.0  # a worker that dies sooner than this after its start counts as failing
MAX_QUICK_EXITS = 5  # in a row, for one slot: give up and stop the proxy
RESTART_DELAYS = (0.0, 0.5, 1.0, 2.0, 5.0)
CONFIG_ERROR_EXIT = 2  # what a worker returns for an invalid config or environment
_PR_SET_PDEATHSIG = 1


class _Log:
    """The environment's LOG_LEVEL and LOG_FORMAT, read once."""

    level = LEVELS.get(os.environ.get("LOG_LEVEL", "INFO").upper(), 20)
    json = os.environ.get("LOG_FORMAT", "json") != "console"


def _log(level: str, event: str, **fields: object) -> None:
    if LEVELS[level.upper()] < _Log.level:
        return
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    if _Log.json:
        record = {**fields, "event": event, "level": level, "logger": LOGGER, "timestamp": stamp}
        line = json.dumps(record)
    else:
        line = f"{stamp} [{level:<7}] {event} " + " ".join(f"{k}={v}" for k, v in fields.items())
    print(line, file=sys.stderr, flush=True)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class _Slot:
    index: int
    proc: asyncio.subprocess.Process | None = None
    started: float = 0.0
    quick_exits: int = 0


@dataclass
class Supervisor:
    config_path: Path
    count: int
    slots: list[_Slot] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    exit_code: int = 0

    def argv(self, index: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "services.proxy",
            "--config",
            str(self.config_path),
            "--worker",
            str(index),
            "--workers",
            str(self.count),
        ]

    async def run(self) -> int:
        """Start every worker, keep them running until a stop signal, then wait for all."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        self.slots = [_Slot(index) for index in range(self.count)]
        _log("info", "proxy_workers_starting", workers=self.count, config=str(self.config_path))
        await asyncio.gather(*(self._keep_running(slot) for slot in self.slots))
        _log("info", "proxy_workers_stopped", exit_code=self.exit_code)
        return self.exit_code

    def stop(self) -> None:
        """Forward the stop to every live worker (each drains its own connections)."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        for slot in self.slots:
            if slot.proc is not None and slot.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.proc.send_signal(signal.SIGTERM)

    async def _keep_running(self, slot: _Slot) -> None:
        while not self.stopping.is_set():
            await self._start(slot)
            assert slot.proc is not None
            code = await slot.proc.wait()
            if self.stopping.is_set():
                return
            self._exited(slot, code)
            delay = RESTART_DELAYS[min(slot.quick_exits, len(RESTART_DELAYS) - 1)]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def _start(self, slot: _Slot) -> None:
        slot.proc = await asyncio.create_subprocess_exec(
            *self.argv(slot.index), preexec_fn=_die_with_parent
        )
        slot.started = time.monotonic()
        _log("info", "proxy_worker_started", worker=slot.index, pid=slot.proc.pid)
        if self.stopping.is_set():  # a stop that came while the worker was being spawned
            slot.proc.send_signal(signal.SIGTERM)

    def _exited(self, slot: _Slot, code: int) -> None:
        """Count a quick exit; stop the proxy when a slot cannot stay up."""
        quick = time.monotonic() - slot.started < QUICK_EXIT_S
        slot.quick_exits = slot.quick_exits + 1 if quick else 0
        fatal = code == CONFIG_ERROR_EXIT or slot.quick_exits >= MAX_QUICK_EXITS
        _log(
            "warning",
            "proxy_worker_exited",
            worker=slot.index,
            exit_code=code,
            restarting=not fatal,
        )
        if fatal:
            _log("error", "proxy_worker_failing", worker=slot.index, exit_code=code)
            self.exit_code = code or 1
            self.stop()


def exec_supervisor(config_path: Path, count: int) -> None:
    """Replace this process (the same pid) with a slim parent of `count` workers."""
    os.execv(  # noqa: S606  # a fixed argv of our own interpreter, no shell
        sys.executable,
        [
            sys.executable,
            "-m",
            "services.proxy.supervisor",
            "--config",
            str(config_path),
            "--workers",
            str(count),
        ],
    )


def main(argv: list[str] | None = None) -> int:
    """Run the parent until every worker has stopped."""
    parser = argparse.ArgumentParser(prog="python -m services.proxy.supervisor")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args(argv)
    return asyncio.run(Supervisor(args.config, max(1, args.workers)).run())


if __name__ == "__main__":
    sys.exit(main())
