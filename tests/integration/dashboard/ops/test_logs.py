"""Logs: two real proxy processes' main logs merged, each line naming its replica, with level
filter, search and a cursor that follows only new lines; their request error logs listed,
viewed and downloaded; and this dashboard replica's own records."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.dashboard.logs.ring import RING, RingHandler
from tests.integration.dashboard.conftest import MGMT_KEY
from tests.integration.dashboard.real_proxy import RealProxy

pytestmark = pytest.mark.timeout(180)


def enable_file_logging(proxy: RealProxy) -> None:
    response = httpx.put(
        f"{proxy.url}/v0/management/logging-to-file",
        json={"value": True},
        headers={"Authorization": f"Bearer {MGMT_KEY}"},
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def real_proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RealProxy]]:
    started: list[RealProxy] = []
    try:
        for i in range(2):  # one by one: a replica that fails to start stops the others
            started.append(RealProxy(tmp_path_factory.mktemp(f"proxy{i}")))
            enable_file_logging(started[-1])
        yield started
    finally:
        for proxy in started:
            proxy.stop()


@pytest.fixture
def proxies(real_proxies):
    return real_proxies


def logs(admin, **params: str) -> dict:
    response = admin.get("/api/logs", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def change_setting(proxy: RealProxy) -> None:
    """A management write: the proxy logs `management_setting_changed setting=request-retry`."""
    response = httpx.put(
        f"{proxy.url}/v0/management/request-retry",
        json={"value": 2},
        headers={"Authorization": f"Bearer {MGMT_KEY}"},
    )
    assert response.status_code == 200, response.text


def test_every_replicas_lines_merged_filtered_and_followed(admin, real_proxies):
    first = logs(admin, limit="500")
    replicas = {e["replica"] for e in first["entries"]}
    assert replicas == {"proxy 1", "proxy 2"}, first
    assert first["problems"] == []
    # Following from the cursor returns only what was written since, from the replica it hit.
    change_setting(real_proxies[1])
    later = logs(admin, cursor=first["cursor"], limit="500")
    texts = [e["text"] for e in later["entries"]]
    assert any("setting=request-retry" in t for t in texts), texts
    assert {e["replica"] for e in later["entries"] if "request-retry" in e["text"]} == {"proxy 2"}
    # Lines from before the cursor do not come again (lines can repeat word for word within a
    # second, so check one that was written once, before the first read).
    assert any("setting=logging-to-file" in e["text"] for e in first["entries"])
    assert not any("setting=logging-to-file" in e["text"] for e in later["entries"])
    # Search and level filter.
    found = logs(admin, q="SETTING=REQUEST-RETRY", limit="500")["entries"]
    assert found and all("setting=request-retry" in e["text"] for e in found)
    assert {e["level"] for e in logs(admin, level="info", limit="500")["entries"]} >= {"info"}
    assert not [
        e for e in logs(admin, level="error", limit="500")["entries"] if e["level"] == "info"
    ]
    assert MGMT_KEY not in str(first) + str(later)


def test_a_damaged_cursor_starts_from_the_tail_and_bad_filters_are_400(admin, real_proxies):
    assert logs(admin, cursor="%%%not-base64")["entries"]
    assert admin.get("/api/logs", params={"level": "loud"}).status_code == 400
    assert admin.get("/api/logs", params={"q": "x" * 201}).status_code == 400
    assert admin.get("/api/logs", params={"source": "kernel"}).status_code == 400


def test_a_replica_down_is_named_and_the_others_still_show(admin, real_proxies, dashboard_db):
    # Turning file logging off on one replica makes its /logs refuse: the page says why.
    httpx.put(
        f"{real_proxies[0].url}/v0/management/logging-to-file",
        json={"value": False},
        headers={"Authorization": f"Bearer {MGMT_KEY}"},
    )
    try:
        page = logs(admin)
        assert page["problems"] == [
            "proxy 1: logging to file is off (turn it on in Proxy settings)"
        ]
        assert {e["replica"] for e in page["entries"]} == {"proxy 2"}
    finally:
        enable_file_logging(real_proxies[0])


def test_request_error_logs_list_view_and_download(admin, alice, real_proxies):
    folder = Path(real_proxies[1].config_path).parent / "logs"
    name = "error-v1-chat-completions-2026-12-02T101010-abc123.log"
    (folder / name).write_text("=== REQUEST ===\nPOST /v1/chat/completions\n")
    listed = admin.get("/api/logs/errors").json()["data"]
    [entry] = [f for f in listed["files"] if f["name"] == name]
    assert entry["replica"] == "proxy 2" and entry["replicaIndex"] == 1
    view = admin.get(f"/dashboard/logs/errors/2/{name}")
    assert view.status_code == 200 and "POST /v1/chat/completions" in view.text
    download = admin.get(f"/api/logs/errors/2/{name}")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert download.text.startswith("=== REQUEST ===")
    page = admin.get("/dashboard/logs/errors")
    assert name in page.text
    # Names outside the pattern, unknown replicas and non-admins are refused.
    assert admin.get("/api/logs/errors/2/main.log").status_code == 400
    assert admin.get(f"/api/logs/errors/9/{name}").status_code == 404
    assert admin.get(f"/api/logs/errors/0/{name}").status_code == 400
    assert alice.get(f"/api/logs/errors/2/{name}").status_code == 403


def test_the_dashboards_own_records(admin):
    handler = RingHandler(RING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger("ops-test").warning("own record with a marker")
        page = logs(admin, source="dashboard", q="own record")
        assert [e["level"] for e in page["entries"]] == ["warn"]
        assert page["entries"][0]["replica"].startswith("dashboard ")
        follow = logs(admin, source="dashboard", cursor=page["cursor"], q="own record")
        assert follow["entries"] == []
    finally:
        root.removeHandler(handler)


def test_the_logs_page_renders_with_follow(admin):
    page = admin.get("/dashboard/logs", params={"follow": "1"})
    assert page.status_code == 200
    assert "/dashboard/partials/logs/follow?" in page.text
