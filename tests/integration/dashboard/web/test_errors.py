"""One error shape: JSON under /api/, an HTML page elsewhere, 500s with a request id."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from starlette.requests import Request
from starlette.routing import Route
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from services.dashboard.app import create_app
from services.dashboard.settings import DashboardSettings
from tests.integration.dashboard.conftest import ORIGIN, Browser


async def boom(request: Request) -> None:
    raise RuntimeError("kaboom secret detail")


@pytest.fixture
def client(settings: DashboardSettings) -> Iterator[TestClient]:
    app = create_app(settings, resync_interval_s=0)
    app.router.routes.insert(0, Route("/api/boom", boom))
    app.router.routes.insert(0, Route("/boom", boom))
    with TestClient(
        app, base_url=ORIGIN, follow_redirects=False, raise_server_exceptions=False
    ) as test_client:
        yield test_client


def test_unexpected_error_is_a_500_with_a_request_id(anon: Browser) -> None:
    with capture_logs() as logs:
        response = anon.get("/api/boom")
    assert response.status_code == 500
    error = response.json()["error"]
    rid = response.headers["x-request-id"]
    assert (
        error["code"] == "internal_error"
        and rid in error["message"]
        and error["details"] == {"requestId": rid}
    )
    assert "kaboom" not in response.text
    assert response.headers["x-frame-options"] == "DENY"
    logged = [entry for entry in logs if entry["event"] == "unhandled_exception"]
    assert len(logged) == 1 and logged[0]["request_id"] == rid


def test_unexpected_error_on_a_page_is_html(anon: Browser) -> None:
    response = anon.get("/boom")
    assert response.status_code == 500 and response.headers["content-type"].startswith("text/html")
    assert response.headers["x-request-id"] in response.text and "kaboom" not in response.text


def test_app_errors_and_unknown_routes(anon: Browser, admin: Browser) -> None:
    missing = anon.get("/api/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert anon.get("/nope").headers["content-type"].startswith("text/html")
    wrong_method = admin.request("PATCH", "/api/setup")
    assert (
        wrong_method.status_code == 405
        and wrong_method.json()["error"]["code"] == "method_not_allowed"
    )
    bad_json = admin.post(
        "/api/user/api-keys", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "invalid_json"
    too_big = admin.post(
        "/api/user/api-keys",
        content=b"x" * (3 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert too_big.status_code == 413


def test_main_refuses_bad_settings_naming_the_variable() -> None:
    def run(**env: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "services.dashboard"]
        return subprocess.run(
            argv, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=60
        )

    missing = run()
    assert missing.returncode == 2 and "DATABASE_URL: Field required" in missing.stderr
    placeholder = run(
        DATABASE_URL="postgresql://x@127.0.0.1:1/x",
        JWT_SECRET="changeme",
        MANAGEMENT_API_KEY="m" * 16,
        PROVIDER_ENCRYPTION_KEY="ab" * 32,
    )
    assert placeholder.returncode == 2
    assert "JWT_SECRET is unset or still the .env.example placeholder" in placeholder.stderr
