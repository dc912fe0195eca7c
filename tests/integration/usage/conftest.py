"""Usage test fixtures: one database, one dashboard app and one set of signed-in users per
module (the login rate limit is 10 per 15 minutes per address), with seeded usage."""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pytest
from starlette.testclient import TestClient

from services.collector.usage_events import NewEvent
from services.dashboard.app import create_app
from tests.fakes.management_api import FakeManagementAPI
from tests.integration.conftest import PgCluster
from tests.integration.dashboard.conftest import (
    MGMT_KEY,
    ORIGIN,
    Browser,
    add_user,
    make_settings,
    setup_admin,
)
from tests.integration.usage.seed import add_keys, key_id_for, random_events, store

COLLECTOR_KEY = "usage-collector-key-0123456789"
_counter = itertools.count()


@dataclass
class Seeded:
    """Who exists and what was stored (events as written, before Postgres computed cost)."""

    dsn: str
    user_ids: dict[str, int]
    keys: dict[str, list[str]]  # username -> key ids
    events: list[NewEvent]


@pytest.fixture(scope="module")
def usage_dsn(pg_cluster: PgCluster, migrated_template: str) -> Iterator[str]:
    name = f"cpa_usage_{os.getpid()}_{next(_counter)}"
    pg_cluster.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    yield pg_cluster.dsn(name)
    pg_cluster.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def module_proxy() -> Iterator[FakeManagementAPI]:
    proxy = FakeManagementAPI(MGMT_KEY).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def usage_client(usage_dsn: str, module_proxy: FakeManagementAPI) -> Iterator[TestClient]:
    settings = make_settings(usage_dsn, [module_proxy], collector_api_key=COLLECTOR_KEY)
    app = create_app(settings, resync_interval_s=0)
    with TestClient(app, base_url=ORIGIN, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def users(usage_client: TestClient) -> dict[str, Browser]:
    """admin (set up through /api/setup), alice and bob (users), each signed in once."""
    admin = setup_admin(usage_client)
    return {"admin": admin, "alice": add_user(admin, "alice"), "bob": add_user(admin, "bob")}


def user_ids(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {name: uid for uid, name in conn.execute("SELECT id, username FROM users")}


@pytest.fixture(scope="module")
def seeded(usage_dsn: str, users: dict[str, Browser]) -> Seeded:
    """~1500 events over 35 days: alice's two keys, bob's key, the admin's key, an unknown key
    (no owner) and requests without a key."""
    ids = user_ids(usage_dsn)
    keys = {
        "alice": add_keys(usage_dsn, ids["alice"], ["alice-laptop", "alice-ci"]),
        "bob": add_keys(usage_dsn, ids["bob"], ["bob-main"]),
        "admin": add_keys(usage_dsn, ids["admin"], ["admin-key"]),
    }
    pool = [k for ks in keys.values() for k in ks] + [key_id_for("nobody's"), ""]
    events = random_events(random.Random(7), 1500, pool, datetime.now(UTC))
    assert store(usage_dsn, events) == len(events)
    return Seeded(usage_dsn, ids, keys, events)
