"""GET|DELETE /logs with limit, after and cursor; request error logs."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.proxy.observability.logfiles import ErrorLogWriter

T0 = datetime(2026, 3, 1, 12, 0, 0).timestamp()


def line(offset: int, text: str) -> str:
    stamp = datetime.fromtimestamp(T0 + offset).strftime("%Y-%m-%d %H:%M:%S")
    return f"[{stamp}] [--------] [info] [app.py:1] {text}"


@pytest.fixture
async def file_logging(mgmt):
    await mgmt.ok_json("PUT", "/logging-to-file", json={"value": True})
    mgmt.logs_dir.mkdir()
    return mgmt


def write_main(mgmt, lines, *, partial: str = ""):
    (mgmt.logs_dir / "main.log").write_text("".join(f"{x}\n" for x in lines) + partial)


async def test_logs_need_file_logging(mgmt):
    for method in ("GET", "DELETE"):
        resp = await mgmt.call(method, "/logs")
        assert resp.status == 400
        assert await resp.json() == {"error": "logging to file disabled"}


async def test_empty_logs(file_logging):
    body = await file_logging.ok_json("GET", "/logs")
    assert body == {"lines": [], "line-count": 0, "latest-timestamp": 0, "next-cursor": ""}


async def test_tail_limit_and_after(file_logging):
    mgmt = file_logging
    old = [line(i, f"old {i}") for i in range(3)]
    (mgmt.logs_dir / "main-2026-03-01T11-59-59.000.log").write_text("\n".join(old) + "\n")
    new = [line(10 + i, f"new {i}") for i in range(6)]
    new.insert(4, "Traceback (most recent call last):")  # continuation of "new 3"
    write_main(mgmt, new, partial="[2026-03-01 12:00:59] [--------] [info] [a:1] half writ")

    body = await mgmt.ok_json("GET", "/logs", params={"limit": "3"})
    assert body["lines"] == new[-3:]
    assert body["line-count"] == 3
    assert body["latest-timestamp"] == int(T0 + 15)

    body = await mgmt.ok_json("GET", "/logs")
    assert body["lines"] == old + new

    body = await mgmt.ok_json("GET", "/logs", params={"after": str(int(T0 + 13))})
    assert body["lines"] == new[5:]
    body = await mgmt.ok_json("GET", "/logs", params={"after": str(int(T0 + 12))})
    assert body["lines"] == new[3:]  # "new 3" with its traceback line
    body = await mgmt.ok_json("GET", "/logs", params={"after": str(int(T0 + 99))})
    assert body["lines"] == [] and body["latest-timestamp"] == int(T0 + 99)


async def test_cursor_follows_appended_lines_and_resets_after_clear(file_logging):
    mgmt = file_logging
    write_main(mgmt, [line(0, "a"), line(1, "b")], partial="[2026-03-01")
    first = await mgmt.ok_json("GET", "/logs")
    assert first["lines"] == [line(0, "a"), line(1, "b")]
    with (mgmt.logs_dir / "main.log").open("a") as handle:
        handle.write(" 12:00:02] [--------] [info] [app.py:1] c\n" + line(3, "d") + "\n")
    follow = await mgmt.ok_json("GET", "/logs", params={"cursor": first["next-cursor"]})
    assert follow["lines"] == [line(2, "c"), line(3, "d")]
    assert "cursor-reset" not in follow
    again = await mgmt.ok_json("GET", "/logs", params={"cursor": follow["next-cursor"]})
    assert again["lines"] == []
    assert again["latest-timestamp"] == int(T0 + 3)  # remembered by the cursor

    cleared = await mgmt.ok_json("DELETE", "/logs")
    assert cleared == {"success": True, "message": "Logs cleared successfully", "removed": 0}
    write_main(mgmt, [line(5, "after clear")])
    reset = await mgmt.ok_json("GET", "/logs", params={"cursor": follow["next-cursor"]})
    assert reset["cursor-reset"] is True
    assert reset["lines"] == [line(5, "after clear")]
    garbage = await mgmt.ok_json("GET", "/logs", params={"cursor": "!!not-a-cursor"})
    assert garbage["cursor-reset"] is True


async def test_delete_logs_truncates_main_and_removes_rotated(file_logging):
    mgmt = file_logging
    write_main(mgmt, [line(0, "x")])
    (mgmt.logs_dir / "main-2026-03-01T11-00-00.000.log").write_text(line(0, "y") + "\n")
    (mgmt.logs_dir / "error-keep.log").write_text("kept")
    body = await mgmt.ok_json("DELETE", "/logs")
    assert body["removed"] == 1
    assert (mgmt.logs_dir / "main.log").read_text() == ""
    assert sorted(p.name for p in mgmt.logs_dir.iterdir()) == ["error-keep.log", "main.log"]


@pytest.mark.parametrize(
    "params", [{"limit": "abc"}, {"limit": "0"}, {"limit": "-3"}, {"after": "yesterday"}]
)
async def test_logs_validation_errors(file_logging, params):
    resp = await file_logging.call("GET", "/logs", params=params)
    assert resp.status == 400
    assert "error" in await resp.json()


async def test_huge_limit_is_clamped(file_logging):
    write_main(file_logging, [line(i, str(i)) for i in range(5)])
    body = await file_logging.ok_json("GET", "/logs", params={"limit": "99999999"})
    assert len(body["lines"]) == 5


async def test_request_error_logs(mgmt):
    writer = ErrorLogWriter(mgmt.logs_dir, max_files=lambda: 2)
    paths = [
        writer.write(f"req{i}", f"failure {i} Authorization: Bearer sk-live-abcdefgh12345")
        for i in range(3)
    ]
    assert not paths[0].exists()
    body = await mgmt.ok_json("GET", "/request-error-logs")
    names = [f["name"] for f in body["files"]]
    assert sorted(names) == sorted(p.name for p in paths[1:])
    assert set(body["files"][0]) == {"name", "size", "modified"}
    resp = await mgmt.call("GET", f"/request-error-logs/{paths[2].name}")
    assert resp.status == 200
    text = await resp.text()
    assert text.startswith("failure 2") and "sk-live-abcdefgh12345" not in text
    resp = await mgmt.call("GET", "/request-log-by-id/req2")
    assert resp.status == 200 and (await resp.text()).startswith("failure 2")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/request-error-logs/config.yaml", 400),
        ("/request-error-logs/error-..log", 400),
        ("/request-error-logs/..%2Fconfig.yaml", 400),
        ("/request-error-logs/error-absent.log", 404),
        ("/request-log-by-id/bad.id", 400),
        ("/request-log-by-id/absent", 404),
    ],
)
async def test_request_error_log_names_are_validated(mgmt, path, status):
    (mgmt.config_path.parent / "logs").mkdir(exist_ok=True)
    resp = await mgmt.call("GET", path)
    assert resp.status == status
    assert "error" in await resp.json()


async def test_request_error_logs_without_a_directory(mgmt):
    assert await mgmt.ok_json("GET", "/request-error-logs") == {"files": []}
