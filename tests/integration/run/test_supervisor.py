"""The supervisor with real child processes: readiness, restarts with backoff, clean stop."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import time
from pathlib import Path

from tests.conftest import free_port
from tools.run.supervisor import Backoff, Printer, Service, Supervisor

from .harness import REPO


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _supervisor(**kwargs) -> tuple[Supervisor, io.StringIO]:
    out = io.StringIO()
    printer = Printer(["run", "svc"], stream=out)
    return Supervisor(printer, cwd=REPO, **kwargs), out


async def _until(predicate, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_child_output_is_prefixed_per_line():
    """Every line of the child's stdout and stderr comes out as `name | line`."""
    sup, out = _supervisor()
    code = "import sys; print('one'); print('two', file=sys.stderr); import time; time.sleep(60)"
    service = Service("svc", _python(code), dict(os.environ))
    sup.start(service)
    await _until(lambda: "two" in out.getvalue())
    await sup.stop()
    lines = out.getvalue().splitlines()
    assert "svc | one" in lines
    assert "svc | two" in lines
    assert "run | svc stopped (exit code -15)" in lines


async def test_crashed_child_is_reported_and_restarted_with_growing_delay():
    """A child that exits is restarted; each quick crash doubles the delay."""
    sup, out = _supervisor(backoff=Backoff(initial=0.1, maximum=0.4))
    service = Service("svc", _python("raise SystemExit(3)"), dict(os.environ))
    sup.start(service)
    await _until(lambda: sup.restarts.get("svc", 0) >= 4)
    await sup.stop()
    text = out.getvalue()
    assert "svc exited with code 3" in text
    delays = [line.rsplit(" ", 1)[1] for line in text.splitlines() if "restarting in" in line]
    assert delays[:4] == ["0.1s", "0.2s", "0.4s", "0.4s"]
    assert Backoff(1, 30, 60).next_delay(4, uptime=1) == 8
    assert Backoff(1, 30, 60).next_delay(16, uptime=1) == 30
    assert Backoff(1, 30, 60).next_delay(16, uptime=61) == 1


async def test_health_url_marks_the_service_ready():
    """Ready is set only once the child answers HTTP on its health URL."""
    port = free_port()
    sup, out = _supervisor()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    service = Service("svc", argv, dict(os.environ), f"http://127.0.0.1:{port}/")
    sup.start(service)
    await asyncio.wait_for(service.ready.wait(), 20)
    await sup.stop()
    assert f"svc is up (http://127.0.0.1:{port}/ 200)" in out.getvalue()


async def test_stop_kills_a_child_that_ignores_sigterm_and_its_grandchildren(tmp_path: Path):
    """SIGTERM goes to the whole process group; SIGKILL follows after the grace period."""
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(600)\n"
    )
    sup, out = _supervisor(grace=0.5)
    sup.start(Service("svc", _python(code), dict(os.environ)))
    await _until(lambda: "started" in out.getvalue())
    child_pid = sup.children["svc"].proc.pid
    grandchild = int(pid_file.read_text())
    started = time.monotonic()
    await sup.stop()
    assert time.monotonic() - started < 5
    assert "svc stopped (exit code -9)" in out.getvalue()
    for pid in (child_pid, grandchild):
        await _until(lambda pid=pid: not Path(f"/proc/{pid}").exists() or _zombie(pid))


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
