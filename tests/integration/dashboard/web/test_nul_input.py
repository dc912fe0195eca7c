"""A NUL character in any input is a 400, never a 500 from the database driver (Postgres text
cannot hold NUL). Walks every route of the app: NUL in the query string, in path parameters,
in headers and in JSON and form bodies."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from itsdangerous import Signer
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from services.dashboard.app import create_app
from services.dashboard.settings import DashboardSettings
from services.dashboard.web.secrets_display import digest
from tests.integration.dashboard.conftest import JWT_SECRET, ORIGIN, Browser, setup_admin

_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


def _routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str, bool]]:
    """(method, path template, is static) for every route, mounts included."""
    for route in routes:
        if isinstance(route, Mount):
            if route.routes:
                yield from _routes(list(route.routes), prefix + route.path)
            else:
                yield "GET", prefix + route.path + "/app.css", True
        elif isinstance(route, Route):
            for method in sorted(route.methods or {"GET"}):
                if method != "HEAD":
                    yield method, prefix + route.path, False


def _fill(template: str, text: str) -> str:
    """A concrete path: int parameters become 1, others `text`."""
    return _PARAM.sub(lambda m: "1" if m.group(2) == "int" else text, template)


@pytest.fixture
def lenient(settings: DashboardSettings) -> Iterator[TestClient]:
    """The app with 500s answered (not raised), so every route's status can be checked."""
    app = create_app(settings, resync_interval_s=0)
    with TestClient(
        app, base_url=ORIGIN, follow_redirects=False, raise_server_exceptions=False
    ) as test_client:
        yield test_client


def _fresh_session(dsn: str, user_id: int) -> str:
    """A session cookie made directly in the database: the walk may sign itself out."""
    token = secrets.token_urlsafe(32)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sessions (id, user_id, expires_at) VALUES (%s, %s, %s)",
            (digest(token), user_id, datetime.now(UTC) + timedelta(hours=1)),
        )
    return Signer(JWT_SECRET, salt="dashboard-session", sep=".").sign(token).decode()


def _all(client: TestClient) -> list[tuple[str, str, bool]]:
    found = list(_routes(list(client.app.routes)))  # type: ignore[attr-defined]
    assert len(found) > 100, "the walk should see every route"
    return found


def test_nul_in_the_query_string_is_a_400_on_every_route(lenient: TestClient) -> None:
    admin = setup_admin(lenient)
    for method, template, _ in _all(lenient):
        path = _fill(template, "x")
        response = admin.request(method, f"{path}?model=%00&window=7d", json={})
        assert response.status_code == 400, (method, path, response.text[:200])
        if path.startswith("/api/"):
            assert response.json()["error"]["code"] == "invalid_input"
        literal = admin.request(method, f"{path}?model=a%00b")
        assert literal.status_code == 400, (method, path)


def test_nul_in_path_parameters_and_headers_is_a_400(lenient: TestClient) -> None:
    admin = setup_admin(lenient)
    templates = [(m, t) for m, t, static in _all(lenient) if not static and ":int}" not in t]
    with_text = [(m, t) for m, t in templates if _PARAM.search(t)]
    assert with_text, "some routes take text path parameters"
    for method, template in with_text:
        response = admin.request(method, _fill(template, "%00"))
        assert response.status_code == 400, (method, template, response.text[:200])
    header = admin.get("/api/usage/history", headers={"X-Anything": "a\x00b"})
    assert header.status_code == 400


def test_nul_in_bodies_never_reaches_the_database(
    lenient: TestClient, settings: DashboardSettings
) -> None:
    admin = setup_admin(lenient)
    dsn = settings.database_url.get_secret_value()
    bodies = [
        {"json": {"name": "a\x00b", "username": "a\x00b", "password": "p\x00", "key": "\x00"}},
        {"json": {"nested": [{"deep": ["\x00"]}]}},
        {"json": {"key\x00": 1}},
        {"data": {"name": "a\x00b", "model": "\x00", "value": "\x00"}},
    ]
    for method, template, static in _all(lenient):
        if method == "GET" or static:
            continue
        path = _fill(template, "x")
        for body in bodies:
            browser = Browser(lenient)
            browser.cookie = _fresh_session(dsn, 1)
            response = browser.request(method, path, **body)
            assert response.status_code < 500, (method, path, body, response.text[:200])
    # Routes that read a body refuse it before any query, for every spelling.
    admin.cookie = _fresh_session(dsn, 1)  # the walk signed everyone out
    with psycopg.connect(dsn, autocommit=True) as conn:  # and used up the rate limits
        conn.execute("DELETE FROM rate_limit_counters")
    for path, field in (("/api/auth/login", "username"), ("/api/custom-providers", "name")):
        for value in ("\x00", "a\x00", "\x00b"):
            response = admin.post(path, json={field: value, "password": "x"})
            assert response.status_code == 400, (path, value)
            assert response.json()["error"]["code"] == "invalid_input"
    form = admin.post("/dashboard/settings/limits", data={"key": "a\x00", "value": "3"})
    assert form.status_code == 303  # a form failure comes back as a flash message


def test_a_deeply_nested_body_is_a_400_not_a_recursion_error(lenient: TestClient) -> None:
    admin = setup_admin(lenient)
    deep = '{"a":' + "[" * 1000 + '"\\u0000"' + "]" * 1000 + "}"
    response = admin.post(
        "/api/custom-providers", content=deep, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
