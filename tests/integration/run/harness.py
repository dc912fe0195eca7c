"""Start `python -m tools.run` as a real process and read its prefixed output."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def make_state_dir() -> Path:
    """A temp folder the `postgres` user can traverse (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="run-test-"))
    path.chmod(0o755)
    return path


def remove_state_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class RunProcess:
    """One supervisor process; its output lines are collected by a reader thread."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        full_env = dict(os.environ) | {"NO_COLOR": "1"} | (env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.run", *args],
            cwd=REPO,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(_ANSI.sub("", line.rstrip("\n")))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 60) -> str:
        """The first new line matching `pattern`; fails with the output so far."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                line = ""
            if line is None:
                raise AssertionError(f"run exited before {pattern!r}:\n{self.output}")
            if line:
                self.lines.append(line)
                if regex.search(line):
                    return line
            if time.monotonic() >= deadline:
                raise AssertionError(f"no line matching {pattern!r} in time:\n{self.output}")

    def drain(self) -> None:
        while True:
            try:
                line = self._queue.get(timeout=5)
            except queue.Empty:
                return
            if line is None:
                return
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C, then wait for the supervisor to finish stopping everything."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout)
        self.drain()
        return code

    def kill(self) -> None:
        """Make sure the supervisor is gone and its pipe closed (safe to call twice)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains `text` (other than this test process)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def wait_until_gone(text: str, timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := processes_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left
