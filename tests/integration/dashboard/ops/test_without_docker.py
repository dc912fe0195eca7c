"""Containers and Updates where the dashboard has no Docker access (no DOCKER_HOST): every
other page works, these say why plainly, and input is still checked first. (With a real engine:
tests/integration/dashboard_browser/test_operations_docker.py.)"""

from __future__ import annotations


def test_containers_say_why_they_are_unavailable(admin):
    response = admin.get("/api/containers")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "docker_unavailable"
    assert "DOCKER_HOST is not set" in response.json()["error"]["message"]
    page = admin.get("/dashboard/containers")
    assert page.status_code == 200 and "Containers are unavailable" in page.text


def test_updates_say_why_they_are_unavailable(admin):
    check = admin.get("/api/updates/check").json()["data"]
    assert check["gateway"] is None and "DOCKER_HOST" in check["problem"]
    assert check["dashboard"]["version"]
    partial = admin.get("/dashboard/partials/updates/check")
    assert "Updates are unavailable" in partial.text
    page = admin.get("/dashboard/updates")
    assert page.status_code == 200 and "The deploy webhook is off" in page.text
    started = admin.post("/api/updates/deploy", json={"confirm": True})
    assert started.status_code == 503
    assert admin.get("/api/updates/deploys").json()["data"]["deploys"] == []


def test_bad_input_is_a_clear_400_before_docker_is_asked(admin):
    action = "/api/containers/opsstack-proxy-1/action"
    assert admin.post(action, json={"action": "explode", "confirm": True}).status_code == 400
    assert admin.post(action, json={"action": "restart"}).status_code == 400
    assert admin.post("/api/containers/..%2Fetc/action", json={}).status_code in (400, 404)
    assert admin.get("/api/containers/x/logs", params={"lines": "0"}).status_code == 400
    deploy = admin.post("/api/updates/deploy", json={"confirm": True, "tag": "../latest"})
    assert deploy.status_code == 400
    assert admin.post("/api/updates/deploy", json={"tag": "v2"}).status_code == 400
    assert admin.get("/api/updates/deploys/99999999999999999999").status_code in (400, 404)


def test_operator_pages_are_for_admins_only(alice):
    for path in ("/api/containers", "/api/updates/check", "/api/updates/deploys", "/api/logs"):
        assert alice.get(path).status_code == 403, path
    for path in ("/dashboard/containers", "/dashboard/updates", "/dashboard/logs"):
        assert alice.get(path).status_code == 403, path
    assert (
        alice.post("/api/containers/x/action", json={"action": "stop", "confirm": True}).status_code
        == 403
    )
