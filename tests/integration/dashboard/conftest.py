"""Dashboard integration fixtures: the app in TestClient on a fresh migrated database, talking to
fake proxies (tests/fakes/management_api.py) over real HTTP."""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterator
from typing import Any

import httpx
import nacl.pwhash
import psycopg
import pytest
from starlette.testclient import TestClient

from services.dashboard.app import create_app
from services.dashboard.settings import DashboardSettings
from tests.fakes.management_api import FakeManagementAPI
from tests.integration.conftest import PgCluster

MGMT_KEY = "test-management-key-0123456789"
JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789"
ENC_KEY = "0f" * 32
ORIGIN = "http://testserver"
PASSWORD = "correct horse battery"
_counter = itertools.count()


def make_settings(
    database_url: str, proxies: list[FakeManagementAPI], **extra: Any
) -> DashboardSettings:
    return DashboardSettings(
        database_url=database_url,
        jwt_secret=JWT_SECRET,
        management_api_key=MGMT_KEY,
        provider_encryption_key=ENC_KEY,
        proxy_url=",".join(p.url for p in proxies),
        **({"health_collector": False} | extra),  # no collector runs beside these tests
    )


class Browser:
    """One signed-in (or not) user on a shared TestClient: keeps its own session cookie."""

    def __init__(self, client: TestClient, origin: str | None = ORIGIN) -> None:
        self.client = client
        self.origin = origin
        self.cookies: dict[str, str] = {}

    @property
    def cookie(self) -> str | None:
        """The session cookie's value (None when signed out)."""
        return self.cookies.get("session")

    @cookie.setter
    def cookie(self, value: str | None) -> None:
        if value is None:
            self.cookies.pop("session", None)
        else:
            self.cookies["session"] = value

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        self.client.cookies.clear()
        for name, value in self.cookies.items():
            self.client.cookies.set(name, value)
        headers = dict(kw.pop("headers", {}) or {})
        if self.origin and "Origin" not in headers:
            headers["Origin"] = self.origin
        response = self.client.request(method, url, headers=headers, **kw)
        for line in response.headers.get_list("set-cookie"):
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0].strip().strip('"')
            if value and "max-age=0" not in line.lower():
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)
        self.client.cookies.clear()
        return response

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", url, **kw)

    def patch(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", url, **kw)


@pytest.fixture
def fake_proxy() -> Iterator[FakeManagementAPI]:
    proxy = FakeManagementAPI(MGMT_KEY).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxies(fake_proxy: FakeManagementAPI) -> list[FakeManagementAPI]:
    """The proxies the dashboard is configured with (tests may append a second one first)."""
    return [fake_proxy]


@pytest.fixture(scope="module")
def module_database_url(pg_cluster: PgCluster, migrated_template: str) -> Iterator[str]:
    """One migrated database per test module; `dashboard_db` empties it before each test.

    Copying the template costs ~0.8 s on this machine, emptying ~20 ms.
    """
    name = f"cpa_dash_{os.getpid()}_{next(_counter)}"
    pg_cluster.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    yield pg_cluster.dsn(name)
    pg_cluster.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def dashboard_db(module_database_url: str) -> str:
    with psycopg.connect(module_database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE users, sessions, rate_limit_counters, system_settings, audit_log"
            " RESTART IDENTITY CASCADE"
        )
    return module_database_url


@pytest.fixture
def settings(dashboard_db: str, proxies: list[FakeManagementAPI]) -> DashboardSettings:
    return make_settings(dashboard_db, proxies, fetch_models_allow="")


@pytest.fixture
def client(settings: DashboardSettings) -> Iterator[TestClient]:
    app = create_app(settings, resync_interval_s=0)
    with TestClient(app, base_url=ORIGIN, follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def anon(client: TestClient) -> Browser:
    return Browser(client)


def setup_admin(client: TestClient, username: str = "admin") -> Browser:
    browser = Browser(client)
    response = browser.post("/api/setup", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return browser


@functools.cache
def password_hash() -> str:
    """PASSWORD hashed once per test session: Argon2id is slow on purpose."""
    return nacl.pwhash.argon2id.str(PASSWORD.encode()).decode()


def add_user(admin: Browser, username: str, *, is_admin: bool = False) -> Browser:
    """A user inserted directly (the create route has its own tests), then signed in for real."""
    dsn = admin.client.app.state.settings.database_url.get_secret_value()  # type: ignore[attr-defined]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (username, password_hash, role) VALUES (%s, %s, %s)",
            (username, password_hash(), "admin" if is_admin else "user"),
        )
    browser = Browser(admin.client)
    login = browser.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return browser


@pytest.fixture
def admin(client: TestClient) -> Browser:
    return setup_admin(client)


@pytest.fixture
def alice(admin: Browser) -> Browser:
    return add_user(admin, "alice")


@pytest.fixture
def bob(admin: Browser) -> Browser:
    return add_user(admin, "bob")
