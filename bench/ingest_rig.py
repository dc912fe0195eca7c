"""What the ingest benchmark runs against: a filled proxy outbox served by the real proxy
process, and CPU accounting per process (collector, proxy, PostgreSQL).

The outbox is filled with the proxy's own `Outbox` class (durable segments, fsync on), closed,
and then opened by `python -m services.proxy`, exactly as a restarted proxy finds the events
its previous run recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
# How far apart the proxy stamps two events in the "steady" timeline: 1,000 requests a second.
STEADY_STEP = timedelta(milliseconds=1)


def event_times(events: int, timeline: str, rng: random.Random) -> Iterator[datetime]:
    """Event timestamps in seq order.

    `steady`: increasing with seq, like the proxy's recorder stamps them (completion time, ms);
    `spread`: random within the last hour (the worst case for every time-ordered index).
    """
    now = datetime.now(UTC)
    start = now - STEADY_STEP * (events + 1)
    for seq in range(1, events + 1):
        if timeline == "steady":
            yield start + STEADY_STEP * seq
        else:
            yield now - timedelta(seconds=rng.randint(0, 3599), microseconds=rng.randint(0, 999))


async def fill_outbox(folder: Path, events: int, timeline: str) -> None:
    """Append `events` realistic events to a proxy outbox in `folder`, fsync, close."""
    from services.proxy.usage.outbox import Outbox
    from tests.fakes.usage_source import make_event

    outbox = Outbox(folder, soft_cap_bytes=8 * 1024**3)
    await outbox.start()
    rng = random.Random(1)
    for seq, at in enumerate(event_times(events, timeline, rng), start=1):
        event = make_event(seq, "", rng, at=at)
        event["timestamp"] = at.isoformat(timespec="milliseconds")  # as the recorder writes it
        if outbox.append(event) != seq:  # the outbox sets the reserved fields
            raise RuntimeError("the outbox dropped an event")
        if seq % 20_000 == 0:
            await asyncio.sleep(0)  # let the group commit run
    await outbox.close()


@dataclass
class ProxyChild:
    """`python -m services.proxy` serving the outbox in `usage_dir`, nothing else configured."""

    folder: Path
    usage_dir: Path
    collector_key: str
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        config = self.folder / "config.yaml"
        # JSON is YAML; the client key only makes the config valid, no request uses it.
        config.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "host": "127.0.0.1",
                    "usage-dir": str(self.usage_dir),
                    "api-keys": ["sk-bench-client-key-0123456789"],
                }
            )
        )
        env = {
            **os.environ,
            "COLLECTOR_API_KEY": self.collector_key,
            "MANAGEMENT_API_KEY": "bench-management-key-0123456789",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "WARNING",
        }
        with (self.folder / "proxy.log").open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220  # starts a child, never waits on it
                [sys.executable, "-m", "services.proxy", "--config", str(config)],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=log,
            )
        await _wait_healthy(self.url, self.proc)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the proxy exited with {proc.returncode}")
            try:
                async with session.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)  # a process we just started: nothing to await
    raise TimeoutError(f"{url} did not become healthy")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def cluster_pids(data_dir: Path) -> list[int]:
    """The postmaster of a local cluster and every process it started (backends, WAL writer,
    checkpointer...)."""
    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return []
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
        if ppid == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]


class CpuMeter:
    """CPU seconds used by groups of processes between `start()` and `stop()`; each group is
    listed again at `stop()`, so a process started meanwhile (a new backend) counts from 0."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self._before: dict[int, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._before = {pid: cpu_seconds(pid) for find in self.groups.values() for pid in find()}

    def stop(self) -> None:
        self.used = {
            name: sum(cpu_seconds(pid) - self._before.get(pid, 0.0) for pid in find())
            for name, find in self.groups.items()
        }
