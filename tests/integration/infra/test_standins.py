"""The stand-ins honour the contracts of the official images they replace (docs/testing.md):
what the stack relies on behaves as the official image documents it. They run on the run's
private Docker engine; the first test to need them may build them (minutes, then cached)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import docker
import httpx
import psycopg
import pytest

from tests.conftest import free_port
from tests.docker.engine import Engine

pytestmark = pytest.mark.timeout(1800)


def _wait(check, limit: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + limit
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {limit:.0f} s")
        time.sleep(0.2)  # a container gives no readiness event
    return value


class Containers:
    """`docker run -d` helper that removes what it started."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.names = engine, []

    def run(self, image: str, *args: str, env: dict[str, str] | None = None,
            options: tuple[str, ...] = ()) -> str:  # fmt: skip
        name = f"standin-test-{len(self.names)}-{int(time.monotonic() * 1000)}"
        flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
        self.engine.docker("run", "-d", "--name", name, *flags, *options, image, *args)
        self.names.append(name)
        return name

    def exec(self, name: str, *command: str) -> int:
        return self.engine.docker("exec", name, *command, check=False).returncode

    def logs(self, name: str) -> str:
        result = self.engine.docker("logs", name, check=False)
        return result.stdout + result.stderr

    def state(self, name: str) -> tuple[str, int]:
        out = self.engine.docker(
            "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name
        ).stdout.split()
        return out[0], int(out[1])

    def remove_all(self) -> None:
        if self.names:
            self.engine.docker("rm", "-f", "-v", *self.names, check=False)


@pytest.fixture
def containers(docker_engine: Engine) -> Iterator[Containers]:
    helper = Containers(docker_engine)
    yield helper
    helper.remove_all()


def _run_in(engine: Engine, image: str, script: str) -> str:
    return engine.docker("run", "--rm", "--entrypoint", "sh", image, "-c", script).stdout


def test_python_base_is_what_the_dockerfile_expects(docker_engine, standin_images):
    """python/pip on PATH, pip installs system-wide, venv, TLS, time zones, useradd."""
    out = _run_in(
        docker_engine,
        standin_images["python"],
        "python --version; pip --version >/dev/null && echo pip; "
        "test ! -e /usr/lib/python3.11/EXTERNALLY-MANAGED && echo pep668-off; "
        "python -c 'import ssl, venv, zoneinfo; zoneinfo.ZoneInfo(\"Asia/Tokyo\")' && echo mods; "
        "command -v useradd groupadd >/dev/null && echo users",
    )
    assert out.split() == ["Python", out.split()[1], "pip", "pep668-off", "mods", "users"]
    assert out.split()[1].startswith("3.11.")


def test_node_base_has_node_and_npm(docker_engine, standin_images):
    out = _run_in(docker_engine, standin_images["node"], "node --version; npm --version")
    node, npm = out.split()
    assert node.startswith("v") and npm.count(".") == 2


def _pg_ready(containers: Containers, name: str) -> bool:
    # Over TCP, as the compose healthcheck: the first-boot server listens on its socket only.
    return containers.exec(name, "pg_isready", "-q", "-h", "127.0.0.1") == 0


def test_postgres_creates_user_and_database_on_first_boot_only(containers, standin_images):
    port = free_port()
    env = {"POSTGRES_PASSWORD": "s3cret-pass", "POSTGRES_USER": "gw", "POSTGRES_DB": "gwdb"}
    # PGDATA is a VOLUME of the image: the anonymous volume outlives a restart.
    name = containers.run(
        standin_images["postgres"],
        env=env,
        options=(
            "-p",
            f"127.0.0.1:{port}:5432",
        ),
    )
    _wait(lambda: _pg_ready(containers, name), what="postgres ready")
    dsn = f"postgresql://gw:s3cret-pass@127.0.0.1:{port}/gwdb"
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == ("gw", "gwdb")
        conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(f"postgresql://gw:wrong@127.0.0.1:{port}/gwdb").close()
    assert containers.exec(name, "test", "-s", "/var/lib/postgresql/data/PG_VERSION") == 0
    # The local socket trusts (what manage.sh backup and restore use through exec).
    assert containers.exec(name, "psql", "-U", "gw", "-d", "gwdb", "-c", "SELECT 1") == 0

    # A second start on the same data skips initialisation and keeps the data.
    containers.engine.docker("restart", name)
    _wait(lambda: _pg_ready(containers, name), what="postgres ready again")
    assert "Skipping initialization" in containers.logs(name)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT x FROM kept").fetchone() == (42,)


def test_postgres_refuses_to_initialise_without_a_password(containers, standin_images):
    name = containers.run(standin_images["postgres"])
    _wait(lambda: containers.state(name)[0] == "exited", what="exit")
    assert containers.state(name)[1] != 0
    assert "POSTGRES_PASSWORD" in containers.logs(name)


@pytest.fixture
def socket_proxy(containers, standin_images, docker_engine):
    """Start a socket proxy with the given permissions; returns its base URL."""

    def start(**permissions: str) -> str:
        port = free_port()
        containers.run(
            standin_images["socket-proxy"], env=permissions,
            options=("-p", f"127.0.0.1:{port}:2375",
                     "-v", f"{docker_engine.socket}:/var/run/docker.sock:ro"),
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                return httpx.get(f"{url}/_ping", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        _wait(answers, what="socket proxy answering")
        return url

    return start


def test_socket_proxy_allows_only_the_sections_switched_on(socket_proxy):
    """The compose file's permission set: read containers, images, networks; POST on."""
    url = socket_proxy(CONTAINERS="1", IMAGES="1", NETWORKS="1", POST="1")
    with httpx.Client(base_url=url, timeout=10) as client:
        for path in ("/_ping", "/version", "/v1.41/containers/json", "/images/json", "/networks"):
            assert client.get(path).status_code == 200, path
        for path in ("/volumes", "/v1.41/exec/x/json", "/info", "/secrets", "/swarm", "/system/df"):
            assert client.get(path).status_code == 403, path
        # POST=1 opens writes only where the section is allowed.
        assert client.post("/containers/nope/restart").status_code == 404  # reached Docker
        assert client.post("/volumes/create", json={}).status_code == 403
        assert client.post("/build").status_code == 403


def test_socket_proxy_defaults_are_read_only_and_narrow(socket_proxy):
    url = socket_proxy()  # image defaults: EVENTS, PING, VERSION
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/version").status_code == 200
        assert client.get("/containers/json").status_code == 403
        assert client.post("/containers/create", json={}).status_code == 403


def test_socket_proxy_start_stop_switches_without_the_containers_section(socket_proxy):
    url = socket_proxy(POST="1", ALLOW_START="1")
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.post("/containers/nope/start").status_code == 404  # reached Docker
        assert client.post("/containers/nope/stop").status_code == 403
        assert client.get("/containers/json").status_code == 403


def test_docker_sdk_works_through_the_socket_proxy(socket_proxy, containers, standin_images):
    """What the dashboard does: the docker SDK against tcp://docker-proxy:2375."""
    url = socket_proxy(CONTAINERS="1", IMAGES="1", NETWORKS="1", POST="1")
    containers.run(standin_images["python"], "sleep", "300")
    client = docker.DockerClient(base_url=url.replace("http", "tcp"), timeout=10)
    try:
        names = [c.name for c in client.containers.list()]
        assert any(n.startswith("standin-test-") for n in names)
        with pytest.raises(docker.errors.APIError, match="403"):
            client.volumes.list()
    finally:
        client.close()
