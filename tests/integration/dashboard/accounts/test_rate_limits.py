"""Rate limits are counted in Postgres: they hold across two dashboard instances."""

from __future__ import annotations

from starlette.testclient import TestClient

from services.dashboard.app import create_app
from services.dashboard.settings import DashboardSettings
from tests.integration.dashboard.conftest import ORIGIN, PASSWORD, Browser, setup_admin


def test_login_brute_force_is_429_across_two_instances(settings: DashboardSettings) -> None:
    first_app, second_app = (
        create_app(settings, resync_interval_s=0),
        create_app(settings, resync_interval_s=0),
    )
    with (
        TestClient(first_app, base_url=ORIGIN) as one,
        TestClient(second_app, base_url=ORIGIN) as two,
    ):
        setup_admin(one)
        attempts = [Browser(one if i % 2 else two) for i in range(11)]
        codes = [
            b.post(
                "/api/auth/login", json={"username": "admin", "password": f"guess-{i}-pw"}
            ).status_code
            for i, b in enumerate(attempts)
        ]
        assert codes[:10] == [401] * 10
        assert codes[10] == 429
        blocked = Browser(one).post(
            "/api/auth/login", json={"username": "admin", "password": PASSWORD}
        )
        assert blocked.status_code == 429  # even the right password waits out the window
        retry_after = int(blocked.headers["retry-after"])
        assert 0 < retry_after <= 900
        assert blocked.json()["error"]["code"] == "rate_limited"


def test_setup_attempts_are_limited(client: TestClient) -> None:
    codes = [
        Browser(client).post("/api/setup", json={"username": "x", "password": "short"}).status_code
        for _ in range(4)
    ]
    assert codes == [400, 400, 400, 429]


def test_password_change_attempts_are_limited(admin: Browser) -> None:
    codes = [
        admin.post(
            "/api/auth/change-password",
            json={"currentPassword": f"wrong-{i}-pw", "newPassword": "new password!"},
        ).status_code
        for i in range(6)
    ]
    assert codes == [401] * 5 + [429]
