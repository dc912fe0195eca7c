"""Start and stop a local PostgreSQL cluster from the machine's binaries (tests and `make run`).

The cluster listens on 127.0.0.1 at the given port with its Unix socket inside the data folder.
As root, every server command runs as the `postgres` user (initdb refuses root).

    dsn = ensure_cluster(Path(".run/postgres"), 55432)   # init on first use, start if stopped
    stop_cluster(Path(".run/postgres"))
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from services.proxy.config.files import write_atomic

DEFAULT_USER = "postgres"
_CONF_MARK = "# --- tools/localpg settings ---"
# Throwaway clusters trade durability for speed; a crash only loses test data.
_FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class LocalPgError(RuntimeError):
    """A PostgreSQL binary is missing or a cluster command failed (the message says which)."""


def find_bindir() -> Path:
    """Folder holding initdb/pg_ctl: $PG_BINDIR, Debian's newest, `pg_config --bindir`, PATH."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(debian)
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise LocalPgError(
        "PostgreSQL server binaries not found (install postgresql-15 or set PG_BINDIR)"
    )


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dsn_for(port: int, dbname: str = "postgres", password: str | None = None) -> str:
    """The libpq URL of a local cluster's database over TCP."""
    auth = f"{DEFAULT_USER}:{password}" if password else DEFAULT_USER
    return f"postgresql://{auth}@127.0.0.1:{port}/{dbname}"


def ensure_cluster(
    data_dir: Path,
    port: int | None = None,
    *,
    password: str | None = None,
    durable: bool = True,
) -> str:
    """Initialise `data_dir` if empty, start the server if stopped, and return its DSN.

    `port=None` reuses the port the cluster was created with (or picks a free one on first
    use). With `password`, TCP logins need it (scram-sha-256); otherwise local trust auth.
    `durable=False` turns fsync off: for throwaway test clusters only.
    """
    data_dir = data_dir.absolute()
    if not (data_dir / "PG_VERSION").exists():
        _init(data_dir, port or free_port(), password=password, durable=durable)
    running = running_port(data_dir)
    if running is not None and (port is None or port == running):
        return dsn_for(running, password=password)
    if running is not None:
        stop_cluster(data_dir)
    port = port or _configured_port(data_dir)
    _write_port(data_dir, port)
    log = data_dir / "postgres.log"
    pg_ctl = str(find_bindir() / "pg_ctl")
    _run_as_owner(
        [pg_ctl, "-D", str(data_dir), "-l", str(log), "-w", "-t", "30", "start"],
        what=f"start PostgreSQL on port {port} (see {log})",
    )
    return dsn_for(port, password=password)


def stop_cluster(data_dir: Path, *, mode: str = "fast") -> None:
    """Stop the server of `data_dir` if it runs (`mode`: smart, fast or immediate)."""
    data_dir = data_dir.absolute()
    if running_port(data_dir) is None:
        return
    _run_as_owner(
        [str(find_bindir() / "pg_ctl"), "-D", str(data_dir), "-m", mode, "-w", "-t", "30", "stop"],
        what="stop PostgreSQL",
    )


def restart_cluster(data_dir: Path, *, mode: str = "fast") -> None:
    """Restart the server of `data_dir` on the same port (tests use it as a fault)."""
    data_dir = data_dir.absolute()
    port = running_port(data_dir) or _configured_port(data_dir)
    stop_cluster(data_dir, mode=mode)
    ensure_cluster(data_dir, port)


def destroy_cluster(data_dir: Path) -> None:
    """Stop the server immediately and delete its data folder."""
    stop_cluster(data_dir, mode="immediate")
    shutil.rmtree(data_dir, ignore_errors=True)


def running_port(data_dir: Path) -> int | None:
    """The port of the live server of `data_dir`, or None when it is not running."""
    pid_file = data_dir / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, IndexError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by another user
    return port


def _init(data_dir: Path, port: int, *, password: str | None, durable: bool) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    _check_reachable(data_dir.parent)
    _give_to_owner(data_dir)
    args = [str(find_bindir() / "initdb"), "-D", str(data_dir), "-U", DEFAULT_USER, "-E", "UTF8"]
    args += ["--locale=C", *([] if durable else ["--no-sync"])]
    with tempfile.TemporaryDirectory() as tmp:
        if password:
            pwfile = Path(tmp) / "pw"
            write_atomic(pwfile, password + "\n", mode=0o600)
            _give_to_owner(Path(tmp))
            _give_to_owner(pwfile)
            args += ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        else:
            args += ["-A", "trust"]
        _run_as_owner(args, what=f"initdb {data_dir}")
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{data_dir}'",
        "max_connections": "200",
        **({} if durable else _FAST_SETTINGS),
    }
    conf = data_dir / "postgresql.conf"
    lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
    write_atomic(conf, f"{conf.read_text()}\n{_CONF_MARK}\n{lines}")
    _write_port(data_dir, port)


def _write_port(data_dir: Path, port: int) -> None:
    """Record the port in postgresql.conf, replacing the previous one."""
    conf = data_dir / "postgresql.conf"
    text = re.sub(r"(?m)^port = \d+\n", "", conf.read_text())
    write_atomic(conf, f"{text}port = {port}\n")


def _configured_port(data_dir: Path) -> int:
    found = re.findall(r"(?m)^port = (\d+)$", (data_dir / "postgresql.conf").read_text())
    return int(found[-1]) if found else free_port()


def _owner_ids() -> tuple[int, int] | None:
    """(uid, gid) of the postgres user when we run as root; None when we run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(DEFAULT_USER)
    except KeyError as exc:
        raise LocalPgError("running as root needs a `postgres` system user") from exc
    return entry.pw_uid, entry.pw_gid


def _check_reachable(folder: Path) -> None:
    """Refuse early when the postgres user cannot reach the data folder (we never chmod parents)."""
    ids = _owner_ids()
    if ids is None:
        return
    for parent in [folder, *folder.parents]:
        if not parent.stat().st_mode & 0o001 and parent.stat().st_uid != ids[0]:
            raise LocalPgError(
                f"the postgres user cannot enter {parent} (mode {parent.stat().st_mode & 0o777:o});"
                " put the cluster under a world-searchable folder such as /tmp"
            )


def _give_to_owner(path: Path) -> None:
    ids = _owner_ids()
    if ids is not None:
        os.chown(path, *ids)
        path.chmod(0o700)


def _run_as_owner(args: list[str], *, what: str) -> None:
    if _owner_ids() is not None:
        args = ["runuser", "-u", DEFAULT_USER, "--", *args]
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, check=False, cwd="/")
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()[-2000:]
        raise LocalPgError(f"could not {what} after {time.monotonic() - started:.1f}s: {detail}")


def main() -> None:
    """`python -m tools.localpg start|stop|status DATA_DIR [PORT]` for manual use."""
    import sys

    if len(sys.argv) < 3 or sys.argv[1] not in {"start", "stop", "status"}:
        raise SystemExit("usage: python -m tools.localpg start|stop|status DATA_DIR [PORT]")
    data_dir = Path(sys.argv[2])
    if sys.argv[1] == "start":
        print(ensure_cluster(data_dir, int(sys.argv[3]) if len(sys.argv) > 3 else None))
    elif sys.argv[1] == "stop":
        stop_cluster(data_dir)
    else:
        port = running_port(data_dir.absolute())
        print(f"running on {port}" if port else "stopped")


if __name__ == "__main__":
    main()
