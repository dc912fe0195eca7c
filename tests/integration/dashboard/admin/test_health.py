"""/api/health names a down database at once (not after the pool's wait) and a collector that
does not lead; a real collector process leading makes it whole again."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from services.collector.worker import Collector
from services.dashboard.settings import DashboardSettings
from tests.fakes.management_api import FakeManagementAPI
from tests.integration.collector.helpers import settings_for
from tests.integration.conftest import PgCluster
from tests.integration.dashboard.conftest import Browser, make_settings
from tests.integration.dashboard.real_proxy import eventually


@pytest.fixture
def settings(dashboard_db: str, proxies: list[FakeManagementAPI]) -> DashboardSettings:
    return make_settings(dashboard_db, proxies, health_collector=True)


def _failed(anon: Browser) -> list[str]:
    response = anon.get("/api/health")
    failed: list[str] = response.json()["data"]["failed"]
    assert (response.status_code == 200) == (not failed), response.text
    return failed


@contextmanager
def running_collector(database_url: str, proxy_url: str) -> Iterator[Collector]:
    """A real collector (the worker `python -m services.collector` runs) on its own loop."""
    loop = asyncio.new_event_loop()
    collector = Collector(settings_for(database_url, proxy_url))
    thread = threading.Thread(target=loop.run_until_complete, args=(collector.run(),))
    thread.start()
    try:
        yield collector
    finally:
        loop.call_soon_threadsafe(collector.stop)
        thread.join(30)
        loop.close()


def test_the_collector_is_named_until_one_leads(
    anon: Browser, dashboard_db: str, fake_proxy: FakeManagementAPI
) -> None:
    assert _failed(anon) == ["collector"]
    down = anon.get("/api/health").json()
    assert down["error"]["message"] == "unavailable: collector"
    (check,) = [c for c in down["data"]["checks"] if c["name"] == "collector"]
    assert check["error"] == "no collector leads"
    with running_collector(dashboard_db, fake_proxy.url) as collector:
        eventually(collector.leading.is_set, limit=30)
        assert _failed(anon) == []
    eventually(lambda: _failed(anon) == ["collector"], limit=30)  # its lock ended with it


def test_a_collector_leading_another_database_does_not_count(
    anon: Browser, pg_cluster: PgCluster, migrated_template: str, fake_proxy: FakeManagementAPI
) -> None:
    """The lock is per database: one Postgres server may hold several stacks' databases."""
    name = f"cpa_other_stack_{os.getpid()}"
    pg_cluster.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    try:
        with running_collector(pg_cluster.dsn(name), fake_proxy.url) as other:
            eventually(other.leading.is_set, limit=30)
            assert _failed(anon) == ["collector"]
    finally:
        pg_cluster.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_stopped_database_is_named_at_once_not_after_it_is_back(
    anon: Browser, pg_cluster: PgCluster
) -> None:
    """Regression: the check borrowed from the pool, which waits for a fresh connection; with
    Postgres back within the pool's wait it said 200 having hung through the outage (seen with
    a SIGKILLed Postgres container). Its own connection fails at once instead, and names only
    the database (whether a collector leads cannot be read then); the header's badge, which
    wanted a session (in the database), says so too."""
    assert _failed(anon) == ["collector"]
    pg_cluster.stop()
    back = threading.Timer(0.5, pg_cluster.start)  # a crash healed by a restart policy
    try:
        badge = anon.get("/dashboard/partials/health")  # what an open page's header fetches
        assert badge.status_code == 200 and "Degraded: database" in badge.text, badge.text
        back.start()
        assert _failed(anon) == ["database"]
    finally:
        if back.is_alive() or back.finished.is_set():
            back.join()
        else:
            pg_cluster.start()
    eventually(lambda: _failed(anon) == ["collector"], limit=30)
