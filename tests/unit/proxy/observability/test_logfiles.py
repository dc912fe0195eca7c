"""main.log lines, rotation, error logs and the total-size cap."""

from __future__ import annotations

import logging
import os
import re

import pytest
import structlog

from services.core.logging import configure_logging
from services.proxy.observability.logfiles import (
    ErrorLogWriter,
    MainLogHandler,
    enforce_total_size,
    format_line,
    line_timestamp,
    short_request_id,
)

# The Management Center's parser: [time] [8 hex|--------] [level] [file:line] message
LINE = re.compile(
    r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] \[([0-9a-f]{8}|--------)\] \[(\w+) *\] "
    r"\[([\w.\-]+:\d+)\] (.*)$"
)


def record(msg, *, level=logging.INFO, args=()):
    return logging.LogRecord("x", level, "/src/app.py", 42, msg, args, None)


def test_stdlib_record_format():
    line = format_line(record("hello %s", args=("world",), level=logging.WARNING))
    match = LINE.match(line.rstrip("\n"))
    assert match is not None, line
    assert match.groups() == ("--------", "warn", "app.py:42", "hello world")
    assert line_timestamp(line) == pytest.approx(int(record("x").created), abs=2)


def test_structlog_event_dict_format_and_request_id():
    msg = {
        "event": "upstream_failed",
        "request_id": "9f86d081-884c-7d65",
        "status": 502,
        "model": "gpt 5",
        "logger": "x",
        "level": "error",
        "timestamp": "t",
    }
    line = format_line(record(msg, level=logging.ERROR)).rstrip("\n")
    match = LINE.match(line)
    assert match is not None, line
    assert match.group(1) == "9f86d081"
    assert match.group(2) == "error"
    assert match.group(4) == 'upstream_failed status=502 model="gpt 5"'


def test_secrets_are_redacted():
    line = format_line(record("key sk-abcdefghijklmnop and Bearer abcdefghijklmnopqrstuv"))
    assert "sk-abcdefghijklmnop" not in line and "abcdefghijklmnopqrstuv" not in line
    assert "[REDACTED]" in line


@pytest.mark.parametrize(
    ("raw", "short"),
    [
        ("0123456789abcdef", "01234567"),
        ("ABCDEF12-3", "abcdef12"),
        ("abc", "--------"),
        (None, "--------"),
    ],
)
def test_short_request_id(raw, short):
    assert short_request_id(raw) == short


def test_handler_names_the_real_caller_of_structlog_events(tmp_path):
    """Through configure_logging, a structlog call site shows up as file:line of the caller."""
    handler = MainLogHandler(tmp_path)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("INFO", "json", extra_handlers=[handler])
    structlog.configure(cache_logger_on_first_use=False)
    try:
        structlog.contextvars.bind_contextvars(request_id="deadbeefcafe")
        structlog.get_logger("t").info("proxied", api_key="sk-secretsecretsecret")
        expected_line = __import__("inspect").currentframe().f_lineno - 1
        logging.getLogger("aiohttp.server").error("plain %d", 7)
    finally:
        structlog.contextvars.clear_contextvars()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        structlog.reset_defaults()
        handler.close()
    lines = (tmp_path / "main.log").read_text().splitlines()
    first, second = (LINE.match(x) for x in lines)
    assert first.group(1) == "deadbeef"
    assert first.group(3) == f"test_logfiles.py:{expected_line}"
    assert first.group(4) == "proxied api_key=[REDACTED]"
    assert second.group(2, 4) == ("error", "plain 7")


def test_rotation_at_max_bytes_keeps_bounded_backups(tmp_path):
    handler = MainLogHandler(tmp_path, max_bytes=2000, max_rotated=2)
    for i in range(100):
        handler.handle(record(f"line {i:03d} " + "x" * 50))
    handler.close()
    main = tmp_path / "main.log"
    rotated = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("main-"))
    assert main.stat().st_size <= 2000
    assert 1 <= len(rotated) <= 2
    assert "line 099" in main.read_text()


def test_handler_survives_truncation(tmp_path):
    handler = MainLogHandler(tmp_path, max_bytes=10_000)
    handler.handle(record("before"))
    os.truncate(tmp_path / "main.log", 0)
    handler.handle(record("after"))
    handler.close()
    text = (tmp_path / "main.log").read_text()
    assert "after" in text and "before" not in text and not text.startswith("\0")


def test_error_log_writer_keeps_newest_and_redacts(tmp_path):
    writer = ErrorLogWriter(tmp_path, max_files=lambda: 3)
    paths = [writer.write(f"id-{i}/../x", f"body {i} sk-abcdefghijklmnop") for i in range(5)]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(p.name for p in paths[2:])
    assert all(re.match(r"^error-[\dT.\-]+-id-\dx\.log$", n) for n in left)
    assert "sk-abcdefghijklmnop" not in paths[4].read_text()
    unlimited = ErrorLogWriter(tmp_path, max_files=lambda: 0)
    unlimited.write("more", "x")
    assert len(list(tmp_path.iterdir())) == 4


def make_file(path, size, mtime):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (mtime, mtime))


def test_total_size_cap_counts_subdirectories(tmp_path):
    """Old request logs in subfolders are deleted too (CLIProxyAPI #1657 ignored them)."""
    make_file(tmp_path / "main.log", 300_000, 10)  # oldest, but the live file is protected
    make_file(tmp_path / "requests" / "2026-01" / "a.log", 400_000, 20)
    make_file(tmp_path / "requests" / "b.log", 400_000, 30)
    make_file(tmp_path / "error-x.log", 100_000, 40)
    deleted = enforce_total_size(tmp_path, 800_000, protect=[tmp_path / "main.log"])
    assert deleted == [tmp_path / "requests" / "2026-01" / "a.log"]
    total = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert total <= 800_000
    assert enforce_total_size(tmp_path, 0) == []
    assert enforce_total_size(tmp_path / "absent", 10) == []


async def test_janitor_applies_the_cap_until_cancelled(tmp_path):
    import asyncio

    from services.proxy.observability.logfiles import run_log_janitor

    make_file(tmp_path / "main.log", 10, 10)
    make_file(tmp_path / "sub" / "old.log", 2 * 1024 * 1024, 20)
    task = asyncio.create_task(run_log_janitor(tmp_path, lambda: 1, interval=0.01))
    deadline = asyncio.get_running_loop().time() + 5
    while (tmp_path / "sub" / "old.log").exists():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (tmp_path / "main.log").exists()
