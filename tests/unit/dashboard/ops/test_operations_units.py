"""The operations pages' pure parts: the container allowlist, the recreate body built from an
old container, proxy log lines and cursors, and the size and duration filters."""

from __future__ import annotations

import pytest

from services.dashboard.containers import policy
from services.dashboard.logs import proxy_logs
from services.dashboard.logs.proxy_logs import Filter
from services.dashboard.updates import check, recreate
from services.dashboard.web.formatting import duration, size


@pytest.mark.parametrize(
    ("service", "action", "running", "allowed"),
    [
        ("proxy", "restart", True, True),
        ("collector", "stop", True, True),
        ("proxy", "start", False, True),
        ("proxy", "start", True, False),  # already running
        ("proxy", "stop", False, False),  # not running
        ("postgres", "restart", True, False),
        ("dashboard", "restart", True, False),
        ("docker-proxy", "stop", True, False),
        ("", "restart", True, False),  # an unlabelled container
        ("proxy", "kill", True, False),
    ],
)
def test_allowlist(service: str, action: str, running: bool, allowed: bool) -> None:
    assert (policy.refusal(service, action, running) is None) is allowed


def test_recreate_keeps_the_containers_own_settings_and_takes_the_new_images_defaults() -> None:
    attrs = {
        "Id": "abcdef0123456789",
        "Config": {
            "Hostname": "abcdef012345",
            "Image": "gw:1",
            "Env": ["APP_VERSION=1", "PATH=/usr/bin", "DATABASE_URL=postgres://db"],
            "Cmd": ["python3", "/app.py"],
            "Healthcheck": {"Test": ["CMD", "true"]},
            "Labels": {
                "com.docker.compose.service": "proxy",
                "org.opencontainers.image.version": "1",
            },
            "ExposedPorts": {"8080/tcp": {}, "9000/tcp": {}},
        },
        "HostConfig": {"RestartPolicy": {"Name": "unless-stopped"}},
    }
    old_image = {
        "Env": ["APP_VERSION=1", "PATH=/usr/bin"],
        "Cmd": ["python3", "/app.py"],
        "Healthcheck": {"Test": ["CMD", "true"]},
        "Labels": {"org.opencontainers.image.version": "1"},
        "ExposedPorts": {"8080/tcp": {}},
    }
    config = recreate.container_config(attrs, old_image, "gw:2")
    assert config["Image"] == "gw:2"
    assert config["Env"] == ["DATABASE_URL=postgres://db"]  # set for the container: kept
    assert "Cmd" not in config and "Healthcheck" not in config  # the new image's defaults
    assert "Hostname" not in config  # Docker's default (the id): the new one gets its own
    assert config["Labels"] == {"com.docker.compose.service": "proxy"}
    assert config["ExposedPorts"] == {"9000/tcp": {}}
    assert config["HostConfig"] == attrs["HostConfig"]


def test_tags_and_references() -> None:
    assert check.with_tag("registry.example/gw:1.2", "1.3") == "registry.example/gw:1.3"
    assert check.with_tag("localhost:5000/gw", None) == "localhost:5000/gw:latest"
    for bad in ("../x", "", "a" * 129, "a b", "-x", 3):
        with pytest.raises(Exception, match="tag"):
            check.check_tag(bad)
    with pytest.raises(Exception, match="pinned by digest"):
        check.split("gw@sha256:" + "0" * 64)


def test_proxy_log_lines_keep_tracebacks_with_their_entry() -> None:
    lines = [
        "[2026-12-02 10:00:00] [abcd1234] [info ] [app.py:1] started",
        "[2026-12-02 10:00:01] [--------] [error] [app.py:2] boom",
        "Traceback (most recent call last):",
        '  File "x.py", line 1',
        "[2026-12-02 10:00:02] [--------] [warn ] [app.py:3] slow",
    ]
    entries = proxy_logs.entries_of("proxy 2", lines)
    assert [e.level for e in entries] == ["info", "error", "warn"]
    assert entries[1].text.count("\n") == 2 and entries[1].replica == "proxy 2"
    assert [e.level for e in entries if Filter("warn").keeps(e)] == ["error", "warn"]
    assert [e.level for e in entries if Filter("", "TRACEBACK").keeps(e)] == ["error"]


def test_log_cursors_round_trip_and_damaged_ones_start_over() -> None:
    cursors = {"proxy 1": "abc", "proxy 2": "def"}
    assert proxy_logs.decode_cursor(proxy_logs.encode_cursor(cursors)) == cursors
    for damaged in ("%%%", "bm90IGpzb24", "WzFd", None, ""):  # not JSON, a list
        assert proxy_logs.decode_cursor(damaged) == {}


def test_size_and_duration_filters() -> None:
    assert (size(None), size(512), size(3 * 1024 * 1024)) == ("—", "512 B", "3.0 MiB")
    assert size(5 * 1024**4) == "5120.0 GiB"
    assert (duration(None), duration(0), duration(65), duration(3 * 86400 + 4 * 3600 + 5)) == (
        "—", "0 s", "1 min 5 s", "3 d 4 h",
    )  # fmt: skip
