"""Who may reach /v0/management: the key, bans, networks, CORS and the error shape."""

from __future__ import annotations

import re

import pytest

from .conftest import KEY, PEER

SAMPLE_PARAMS = {"name": "error-x.log", "id": "abc123"}


def all_routes(app):
    """(method, path) of every management route, placeholders filled with sample values."""
    seen = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter", "")
        if route.method in {"HEAD", "OPTIONS"} or not path.startswith("/v0/management"):
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PARAMS[m.group(1)], path)
        seen.add((route.method, path))
    return sorted(seen)


async def test_all_routes_are_listed(mgmt):
    """The route sweep below really covers the whole API surface."""
    routes = all_routes(mgmt.client.app)
    paths = {p for _, p in routes}
    assert len(routes) > 70
    for expected in ("/config", "/config.yaml", "/api-keys", "/auth-files", "/api-call", "/logs"):
        assert f"/v0/management{expected}" in paths


async def test_every_route_refuses_missing_wrong_and_banned_callers(mgmt):
    """No route answers without the right key, and a banned address is refused everywhere."""
    client = mgmt.client
    for method, path in all_routes(client.app):
        resp = await client.request(method, path)
        assert resp.status == 401, (method, path)
        assert await resp.json() == {"error": "missing management key"}
        resp = await client.request(method, path, headers={"X-Management-Key": "wrong"})
        assert resp.status == 401, (method, path)
        assert await resp.json() == {"error": "invalid management key"}
        # A success resets the count, so the sweep's own failures never ban 127.0.0.1.
        assert (await mgmt.call("GET", "/plugins")).status == 200
    banned = "10.1.1.1"
    for _ in range(5):
        await client.get("/v0/management/config", headers={PEER: banned, "X-Management-Key": "no"})
    for method, path in all_routes(client.app):
        resp = await client.request(
            method, path, headers={PEER: banned, "Authorization": f"Bearer {KEY}"}
        )
        assert resp.status == 403, (method, path)
        assert "Try again in" in (await resp.json())["error"]


async def test_every_route_is_absent_without_a_key(mgmt):
    """With no management key configured the API answers 404, even to the right key."""
    mgmt.fakes.key = None
    for method, path in all_routes(mgmt.client.app):
        resp = await mgmt.call(method, path)
        assert resp.status == 404, (method, path)
    resp = await mgmt.client.options("/v0/management/config")
    assert resp.status == 404


async def test_bearer_and_header_keys_are_accepted(mgmt):
    """Both `Authorization: Bearer` and `X-Management-Key` authenticate."""
    resp = await mgmt.client.get(
        "/v0/management/config", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert resp.status == 200
    resp = await mgmt.client.get("/v0/management/config", headers={"X-Management-Key": KEY})
    assert resp.status == 200


async def test_five_failures_ban_for_thirty_minutes(mgmt):
    """As CLIProxyAPI: the fifth failure still answers 401 and starts the ban; from the sixth
    request on the address gets 403; a correct key does not lift it; it expires."""
    peer = "192.168.1.20"
    bad = {PEER: peer, "X-Management-Key": "nope"}
    answers = [await mgmt.client.get("/v0/management/config", headers=bad) for _ in range(6)]
    assert [r.status for r in answers] == [401, 401, 401, 401, 401, 403]
    assert await answers[4].json() == {"error": "invalid management key"}
    assert (await answers[5].json())["error"].endswith("Try again in 30 minutes")
    resp = await mgmt.call("GET", "/config", peer=peer)
    assert resp.status == 403
    assert (await resp.json())["error"].endswith("Try again in 30 minutes")
    assert (await mgmt.call("GET", "/config", peer="192.168.1.21")).status == 200
    mgmt.fakes.now += 29 * 60
    body = await (await mgmt.call("GET", "/config", peer=peer)).json()
    assert body["error"].endswith("Try again in 1 minute")
    mgmt.fakes.now += 61
    assert (await mgmt.call("GET", "/config", peer=peer)).status == 200


async def test_success_resets_the_failure_count(mgmt):
    """Four failures, a success, four failures: still not banned."""
    bad = {PEER: "10.0.0.7", "X-Management-Key": "nope"}
    for _ in range(4):
        await mgmt.client.get("/v0/management/config", headers=bad)
    assert (await mgmt.call("GET", "/config", peer="10.0.0.7")).status == 200
    for _ in range(4):
        assert (await mgmt.client.get("/v0/management/config", headers=bad)).status == 401
    assert (await mgmt.call("GET", "/config", peer="10.0.0.7")).status == 200


@pytest.mark.parametrize(
    "peer", ["127.0.0.1", "::1", "10.2.3.4", "172.18.0.5", "192.168.0.9", "fd00::5"]
)
async def test_local_and_private_callers_are_allowed(mgmt, peer):
    assert (await mgmt.call("GET", "/config", peer=peer)).status == 200


@pytest.mark.parametrize("peer", ["8.8.8.8", "2001:4860::8888", "100.64.0.1"])
async def test_remote_callers_need_allow_remote(mgmt, peer):
    """Public addresses get 403 until remote-management.allow-remote is true."""
    resp = await mgmt.call("GET", "/config", peer=peer)
    assert resp.status == 403
    assert await resp.json() == {"error": "remote management disabled"}
    await mgmt.ctx.store.edit(lambda doc: doc.update({"remote-management": {"allow-remote": True}}))
    assert (await mgmt.call("GET", "/config", peer=peer)).status == 200


async def test_remote_failures_are_not_counted(mgmt):
    """A refused remote caller never reaches the key check, so it cannot ban anyone."""
    for _ in range(10):
        resp = await mgmt.client.get(
            "/v0/management/config", headers={PEER: "8.8.4.4", "X-Management-Key": "x"}
        )
        assert resp.status == 403
    assert mgmt.ctx.store.current.config.remote_management.allow_remote is False


async def test_cors_preflight_and_headers(mgmt):
    """The Management Center on another origin can preflight and read the version headers."""
    origin = "http://ui.example:5173"
    resp = await mgmt.client.options(
        "/v0/management/config.yaml",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == origin
    assert resp.headers["Access-Control-Allow-Methods"] == "GET, POST, PUT, PATCH, DELETE, OPTIONS"
    assert resp.headers["Access-Control-Allow-Headers"] == (
        "Authorization, Content-Type, X-Management-Key"
    )
    resp = await mgmt.call("GET", "/config", headers={"Origin": origin})
    assert resp.headers["Access-Control-Allow-Origin"] == origin
    assert resp.headers["Access-Control-Expose-Headers"] == (
        "X-CPA-VERSION, X-CPA-BUILD-DATE, X-CPA-SUPPORT-PLUGIN"
    )
    assert resp.headers["X-CPA-Version"] == "1.2.3"
    assert resp.headers["X-CPA-Build-Date"] == "2026-01-02"
    denied = await mgmt.client.get("/v0/management/config", headers={"Origin": origin})
    assert denied.status == 401
    assert denied.headers["Access-Control-Allow-Origin"] == origin  # the UI can read the error


async def test_unknown_management_path_is_json_404_after_auth(mgmt):
    assert (await mgmt.client.get("/v0/management/nope")).status == 401
    resp = await mgmt.call("GET", "/nope")
    assert resp.status == 404
    assert await resp.json() == {"error": "not found"}
    resp = await mgmt.call("POST", "/config")
    assert resp.status == 405
    assert "error" in await resp.json()


async def test_other_paths_pass_through_untouched(mgmt):
    resp = await mgmt.client.get("/other")
    assert resp.status == 200
    assert "X-CPA-Version" not in resp.headers


async def test_plugins_answers_an_empty_list(mgmt):
    assert await mgmt.ok_json("GET", "/plugins") == {"plugins": []}
