"""Child processes of `make run`: prefixed coloured log lines, readiness, restarts, clean stop.

Children run in their own session so a terminal Ctrl-C reaches only the supervisor, which
then stops them in order; on Linux they also get SIGTERM if the supervisor itself dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import aiohttp

_COLORS = (36, 33, 35, 32, 34, 31, 96, 93)
_PR_SET_PDEATHSIG = 1
_READ_LIMIT = 1 << 20


class Printer:
    """Writes `name | text` lines, each service in its own colour when the output is a terminal."""

    def __init__(self, names: Sequence[str], *, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.width = max((len(n) for n in names), default=4)
        self.color = _wants_color(self.stream)
        self._codes = {n: _COLORS[i % len(_COLORS)] for i, n in enumerate(names)}

    def say(self, name: str, text: str) -> None:
        label = name.ljust(self.width)
        if self.color:
            code = self._codes.get(name, 37)
            label = f"\x1b[{code}m{label}\x1b[0m"
        self.stream.write(f"{label} | {text}\n")
        self.stream.flush()


def _wants_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel for SIGTERM when the supervisor dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """One running process and the task copying its output to the printer."""

    name: str
    proc: asyncio.subprocess.Process
    pump: asyncio.Task[None]
    started: float = field(default_factory=time.monotonic)

    async def wait(self) -> int:
        code = await self.proc.wait()
        # Let the pump print the last lines (a traceback) before anyone reports the exit.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.pump), 2)
        return code

    async def stop(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> int:
        """Signal the child's process group, escalate to SIGKILL after `grace` seconds."""
        if self.proc.returncode is None:
            _signal_group(self.proc.pid, sig)
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except TimeoutError:
                _signal_group(self.proc.pid, signal.SIGKILL)
                await self.proc.wait()
        return await self.wait()


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def spawn(
    name: str,
    argv: Sequence[str],
    *,
    printer: Printer,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: int | None = None,
    group: int | None = None,
) -> Child:
    """Start a process with stdout and stderr merged into prefixed lines."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_die_with_parent,
        user=user,
        group=group,
        extra_groups=[] if user is not None else None,
        limit=_READ_LIMIT,
    )
    assert proc.stdout is not None
    pump = asyncio.create_task(_pump(name, proc.stdout, printer))
    return Child(name, proc, pump)


async def _pump(name: str, stream: asyncio.StreamReader, printer: Printer) -> None:
    while True:
        try:
            line = await stream.readline()
        except ValueError:
            # A line longer than the buffer: print what there is rather than stall the child.
            line = await stream.read(_READ_LIMIT)
        if not line:
            return
        printer.say(name, line.decode("utf-8", "replace").rstrip())


@dataclass
class Service:
    """A long-running child: how to start it and where it answers when it is up."""

    name: str
    argv: list[str]
    env: dict[str, str]
    health_url: str | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class Backoff:
    """Restart delays: doubling from `initial` up to `maximum`, reset after a stable run."""

    initial: float = 1.0
    maximum: float = 30.0
    stable_after: float = 60.0

    def next_delay(self, previous: float, uptime: float) -> float:
        if uptime >= self.stable_after or previous <= 0:
            return self.initial
        return min(previous * 2, self.maximum)


class Supervisor:
    """Keeps services running until `stop()`; a crashed one is reported and restarted."""

    def __init__(
        self, printer: Printer, *, cwd: Path, backoff: Backoff | None = None, grace: float = 10.0
    ) -> None:
        self.printer = printer
        self.cwd = cwd
        self.backoff = backoff or Backoff()
        self.grace = grace
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.children: dict[str, Child] = {}
        self.restarts: dict[str, int] = {}

    def start(self, service: Service) -> None:
        self._tasks.append(asyncio.create_task(self._keep_running(service)))

    async def stop(self) -> None:
        """Stop every service (SIGTERM, then SIGKILL after `grace` seconds) and wait for them."""
        self._stopping.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _keep_running(self, service: Service) -> None:
        delay = 0.0
        while not self._stopping.is_set():
            child = await spawn(
                service.name, service.argv, printer=self.printer, env=service.env, cwd=self.cwd
            )
            self.children[service.name] = child
            watcher = asyncio.create_task(self._watch_health(service, child))
            exited = asyncio.create_task(child.wait())
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            watcher.cancel()
            if self._stopping.is_set():
                stopping.cancel()
                code = await child.stop(grace=self.grace)
                exited.cancel()
                self.printer.say("run", f"{service.name} stopped (exit code {code})")
                return
            stopping.cancel()
            code = exited.result()
            uptime = time.monotonic() - child.started
            delay = self.backoff.next_delay(delay, uptime)
            self.restarts[service.name] = self.restarts.get(service.name, 0) + 1
            self.printer.say(
                "run",
                f"{service.name} exited with code {code} after {uptime:.1f}s; "
                f"restarting in {delay:.1f}s",
            )
            service.ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _watch_health(self, service: Service, child: Child) -> None:
        if service.health_url is None:
            service.ready.set()
            return
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while child.proc.returncode is None:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(service.health_url) as response:
                        # Any HTTP answer means it is serving; a 503 only says a dependency
                        # is still starting.
                        self.printer.say(
                            "run", f"{service.name} is up ({service.health_url} {response.status})"
                        )
                        service.ready.set()
                        return
                await asyncio.sleep(0.2)
