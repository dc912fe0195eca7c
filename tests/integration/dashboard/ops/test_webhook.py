"""The deploy webhook: signed with DEPLOY_SECRET over timestamp and body; unsigned, stale,
badly signed and replayed calls are refused with 401 and audited; without the secret the route
does not exist. (A signed call that starts a real deploy: tests/e2e/test_operations_docker.py.)"""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from services.dashboard.app import create_app
from services.dashboard.settings import DashboardSettings
from services.dashboard.updates import webhook
from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard.conftest import ORIGIN, Browser, make_settings
from tests.integration.dashboard.ops.conftest import audit_rows

SECRET = "deploy-secret-0123456789abcdef"
URL = "/api/deploy/webhook"


@pytest.fixture
def settings(dashboard_db: str, proxies: list[FakeManagementAPI]) -> DashboardSettings:
    return make_settings(dashboard_db, proxies, deploy_secret=SECRET)


def signed(body: bytes, *, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if at is None else at)
    return {
        "X-Deploy-Timestamp": stamp,
        "X-Deploy-Signature": webhook.sign(secret, stamp, body),
        "Content-Type": "application/json",
    }


def post(anon: Browser, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    response = anon.post(URL, content=body, headers=headers)
    return response.status_code, response.json()


def test_route_is_absent_without_the_secret(dashboard_db, proxies):
    settings = make_settings(dashboard_db, proxies)
    with TestClient(create_app(settings, resync_interval_s=0), base_url=ORIGIN) as client:
        body = b"{}"
        response = client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 404
    assert audit_rows(dashboard_db, "DEPLOY_WEBHOOK_REFUSED") == []


def test_unsigned_stale_and_forged_calls_are_refused_and_audited(anon, dashboard_db):
    body = b'{"tag": "v2"}'
    assert post(anon, body, {})[0] == 401
    status, error = post(anon, body, signed(body, at=int(time.time()) - 3600))
    assert status == 401 and error["error"]["code"] == "webhook_stale"
    status, error = post(anon, body, signed(body, secret="not-the-secret-000000"))
    assert status == 401 and error["error"]["code"] == "webhook_bad_signature"
    # The body is part of what is signed: a valid signature over another body fails.
    headers = signed(b'{"tag": "v1"}')
    assert post(anon, body, headers)[1]["error"]["code"] == "webhook_bad_signature"
    reasons = [m["reason"] for _, m in audit_rows(dashboard_db, "DEPLOY_WEBHOOK_REFUSED")]
    assert reasons == ["unsigned", "stale", "bad_signature", "bad_signature"]
    assert SECRET not in str(audit_rows(dashboard_db, "DEPLOY_WEBHOOK_REFUSED"))


def test_a_replayed_call_is_refused(anon, dashboard_db):
    body = b'{"tag": "v2"}'
    headers = signed(body)
    first, answer = post(anon, body, headers)
    # Accepted as signed; this dashboard has no Docker access, so no deploy can start.
    assert first == 503, answer
    assert "DOCKER_HOST" in answer["error"]["message"]
    status, error = post(anon, body, headers)
    assert status == 401 and error["error"]["code"] == "webhook_replayed"
    assert [m["reason"] for _, m in audit_rows(dashboard_db, "DEPLOY_WEBHOOK_REFUSED")] == [
        "replayed"
    ]


def test_a_bad_body_is_a_clear_400(anon):
    for body in (b"[1]", b"not json", b'{"tag": "../etc"}', b'{"tag": "a\\u0000"}'):
        status, error = post(anon, body, signed(body))
        assert status == 400, (body, error)
    big = b'{"tag": "' + b"a" * webhook.MAX_BODY + b'"}'
    assert post(anon, big, signed(big))[0] == 413


def test_signature_check_is_exact():
    now = 1_800_000_000
    good = webhook.sign(SECRET, now, b"{}")
    assert webhook.verify(SECRET, str(now), good, b"{}", now=now + 299).ok
    assert webhook.verify(SECRET, str(now), good, b"{}", now=now + 301).reason == "stale"
    assert webhook.verify(SECRET, str(now), good.upper(), b"{}", now=now).ok  # hex case
    assert webhook.verify(SECRET, "12a", good, b"{}", now=now).reason == "stale"
    assert webhook.verify(SECRET, str(now), "sha256=00", b"{}", now=now).reason == "bad_signature"
