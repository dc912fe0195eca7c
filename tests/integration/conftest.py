"""Real Postgres for integration tests: one cluster per session, one fresh database per test.

Fixtures (use them from any test under tests/integration/ or import them in tests/e2e/):

- `pg_cluster` (session): a `PgCluster` with `admin_dsn` (the `postgres` database), `dsn(db)`,
  and `restart()` / `stop()` / `start()` for fault injection (local clusters only; they skip
  the test when `TEST_DATABASE_URL` points at an external server). Started with
  tools/localpg in a temp folder (fsync off) unless `TEST_DATABASE_URL` is set, in which case
  that server is used and must allow CREATE DATABASE.
- `migrated_template` (session): name of a database migrated once with the production
  `migrate()`; every test database is a copy of it (CREATE DATABASE ... TEMPLATE), made in a
  background thread ahead of the test that takes it, and dropped in the background after.
- `database_url` (alias `db_dsn`): the DSN of a fresh, migrated database for this test,
  dropped WITH (FORCE) afterwards. Pass it to a service's settings (`DATABASE_URL`).
- `db_pool`: an open `services.core.db.open_pool(database_url)` pool for the test.
- `db_conn`: one autocommit async connection to `database_url` (session time zone UTC).
- `empty_database_url`: a fresh database with NO migrations applied (migration tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from services.core.db import Connection, Pool, connect, open_pool
from services.core.migrate import migrate
from tools import localpg

_counter = itertools.count()


@dataclass
class PgCluster:
    """A Postgres server the tests may create databases on."""

    admin_dsn: str
    data_dir: Path | None  # None: external server from TEST_DATABASE_URL

    def dsn(self, dbname: str) -> str:
        """The DSN of database `dbname` on this server."""
        return make_conninfo(self.admin_dsn, dbname=dbname)

    def _local(self) -> Path:
        if self.data_dir is None:
            pytest.skip("needs a local cluster (TEST_DATABASE_URL is external)")
        return self.data_dir

    def restart(self) -> None:
        """Restart the server (fast shutdown: open connections are cut)."""
        localpg.restart_cluster(self._local())

    def stop(self) -> None:
        localpg.stop_cluster(self._local())

    def start(self) -> None:
        port = int(conninfo_to_dict(self.admin_dsn)["port"] or 5432)
        localpg.ensure_cluster(self._local(), port)

    def execute(self, sql: str) -> None:
        """Run one statement as the admin on the `postgres` database (autocommit)."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.encode())


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield PgCluster(admin_dsn=external, data_dir=None)
        return
    base = Path(tempfile.mkdtemp(prefix="cpa-test-pg-"))
    base.chmod(0o755)  # the postgres user must enter it when we run as root
    data_dir = base / "data"
    try:
        dsn = localpg.ensure_cluster(data_dir, localpg.free_port(), durable=False)
        yield PgCluster(admin_dsn=dsn, data_dir=data_dir)
    finally:
        localpg.destroy_cluster(data_dir)
        shutil.rmtree(base, ignore_errors=True)


def _unique_name(kind: str) -> str:
    return f"cpa_{kind}_{os.getpid()}_{next(_counter)}"


@pytest.fixture(scope="session")
def migrated_template(pg_cluster: PgCluster) -> Iterator[str]:
    name = _unique_name("template")
    pg_cluster.execute(f'CREATE DATABASE "{name}"')
    asyncio.run(migrate(pg_cluster.dsn(name)))
    yield name
    pg_cluster.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _DatabaseFactory:
    """Copies of the template, one always being prepared ahead in a background thread."""

    def __init__(self, cluster: PgCluster, template: str) -> None:
        self._cluster, self._template = cluster, template
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-db")
        self._next: Future[str] = self._worker.submit(self._create)
        self._drops: list[Future[None]] = []

    def _create(self) -> str:
        name = _unique_name("test")
        self._cluster.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        return name

    def take(self) -> str:
        try:
            name = self._next.result()
        except psycopg.Error:  # e.g. the cluster was restarting: try once more, in the open
            name = self._create()
        self._next = self._worker.submit(self._create)
        return name

    def drop(self, name: str) -> None:
        sql = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        self._drops.append(self._worker.submit(self._cluster.execute, sql))

    def close(self) -> None:
        self._worker.shutdown(wait=True)
        for name_future in [self._next]:
            with contextlib.suppress(psycopg.Error):
                self._cluster.execute(f'DROP DATABASE IF EXISTS "{name_future.result()}"')


@pytest.fixture(scope="session")
def _databases(pg_cluster: PgCluster, migrated_template: str) -> Iterator[_DatabaseFactory]:
    factory = _DatabaseFactory(pg_cluster, migrated_template)
    yield factory
    factory.close()


@pytest.fixture
def database_url(pg_cluster: PgCluster, _databases: _DatabaseFactory) -> Iterator[str]:
    name = _databases.take()
    yield pg_cluster.dsn(name)
    _databases.drop(name)


@pytest.fixture
def db_dsn(database_url: str) -> str:
    return database_url


@pytest.fixture
def empty_database_url(pg_cluster: PgCluster) -> Iterator[str]:
    name = _unique_name("empty")
    pg_cluster.execute(f'CREATE DATABASE "{name}"')
    yield pg_cluster.dsn(name)
    pg_cluster.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db_pool(database_url: str) -> AsyncIterator[Pool]:
    async with open_pool(database_url, min_size=1, max_size=5) as pool:
        yield pool


@pytest.fixture
async def db_conn(database_url: str) -> AsyncIterator[Connection]:
    async with await connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """`small_tmpfs("64k")` mounts a tmpfs of that size and returns its folder.

    For tests that need a disk that really fills up: ENOSPC must come from the kernel, so
    without the right to mount (the tests run as root here) the test is skipped.
    """
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        where = tmp_path / f"tmpfs-{len(mounted)}"
        where.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)
