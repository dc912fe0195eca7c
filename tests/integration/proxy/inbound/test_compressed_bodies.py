"""Compressed request bodies: decoded for the upstream, capped on the decoded bytes, and a
1 GiB decompression bomb costs the proxy no more memory than the body limit.

The memory test runs the real proxy process and reads its peak RSS (VmHWM) from /proc: before
the fix, one 1 MiB gzip body took it past 1 GiB.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from backports.zstd import compress as zstd_compress

from tests.fakes.bombs import BOMBS
from tests.fakes.openai_upstream import Reply

from ..harness import (
    CLIENT_KEY,
    COLLECTOR_KEY,
    MANAGEMENT_KEY,
    compat_config,
    proxy_process,
    run_proxy,
)

CLIENT = {"Authorization": f"Bearer {CLIENT_KEY}"}
ADMIN = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi " * 2000}]}
ENCODERS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "zstd": zstd_compress,
}
BOMB_MIB = 1024
LIMIT_MIB = 8

# (path, format of its errors, a small valid body): one route per client family.
CLIENT_ROUTES = [
    ("/v1/chat/completions", "openai", CHAT),
    ("/v1/completions", "openai", {"model": "gpt-test", "prompt": "hi"}),
    ("/v1/messages", "anthropic", {**CHAT, "max_tokens": 16}),
    ("/v1/messages/count_tokens", "anthropic", CHAT),
    ("/v1beta/models/gpt-test:generateContent", "gemini", {"contents": []}),
    ("/v1beta/models/gpt-test:countTokens", "gemini", {"contents": []}),
    ("/v1/responses", "responses", {"model": "gpt-test", "input": "hi"}),
]
# Every management route that reads a body, and the collector's ack.
ADMIN_ROUTES = [
    ("PUT", "/v0/management/config.yaml"),
    ("PUT", "/v0/management/api-keys"),
    ("PATCH", "/v0/management/api-keys"),
    ("PUT", "/v0/management/debug"),
    ("PUT", "/v0/management/oauth-excluded-models"),
    ("POST", "/v0/management/api-call"),
    ("POST", "/v0/management/auth-files?name=bomb.json"),
    ("PATCH", "/v0/management/auth-files/status"),
    ("PATCH", "/v0/management/auth-files/fields"),
    ("DELETE", "/v0/management/auth-files"),
    ("POST", "/v0/management/reset-quota"),
]


def _error_of(fmt: str, body: dict) -> str:
    """The message of an error body in the client's own format."""
    if fmt == "gemini":
        return body["error"]["message"]
    if fmt == "anthropic":
        assert body["type"] == "error"
        return body["error"]["message"]
    return body["error"]["message"]


@pytest.fixture
async def proxy(fake, tmp_path):
    config = compat_config(fake.base_url, ["k"], **{"request-body-limit-mb": 1})
    async with run_proxy(tmp_path, config) as px:
        yield px


async def _post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=data, headers=headers) as resp:
            return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize("coding", sorted(ENCODERS))
async def test_compressed_body_reaches_the_upstream_decoded(proxy, fake, coding):
    """gzip, deflate and zstd bodies work; the upstream gets plain JSON and no coding header."""
    headers = {**CLIENT, "Content-Type": "application/json", "Content-Encoding": coding}
    status, _ = await _post(
        proxy.base_url + "/v1/chat/completions", ENCODERS[coding](orjson.dumps(CHAT)), headers
    )
    assert status == 200
    (request,) = fake.requests
    assert request.body["messages"] == CHAT["messages"]
    assert "Content-Encoding" not in request.headers


@pytest.mark.parametrize(("path", "fmt", "body"), CLIENT_ROUTES)
@pytest.mark.parametrize("coding", ["br", "compress", "gzip, gzip", "bogus"])
async def test_unsupported_coding_is_a_415_in_the_clients_format(
    proxy, fake, path, fmt, body, coding
):
    headers = {**CLIENT, "Content-Encoding": coding}
    status, reply = await _post(proxy.base_url + path, gzip.compress(orjson.dumps(body)), headers)
    assert status == 415
    assert "Content-Encoding" in _error_of(fmt, reply)
    assert fake.requests == []


@pytest.mark.parametrize(("path", "fmt", "body"), CLIENT_ROUTES)
async def test_broken_streams_are_400_and_bombs_413(proxy, fake, path, fmt, body):
    """Truncated or corrupt data is a 400; a body that inflates past the limit is a 413."""
    raw = gzip.compress(orjson.dumps(body))
    headers = {**CLIENT, "Content-Encoding": "gzip"}
    for broken in (raw[:-12], b"\x1f\x8b\x08\x00garbage-and-more-garbage"):
        status, reply = await _post(proxy.base_url + path, broken, headers)
        assert status == 400
        assert "gzip" in _error_of(fmt, reply)
    status, reply = await _post(proxy.base_url + path, BOMBS["gzip"](2), headers)
    assert status == 413
    assert "limit" in _error_of(fmt, reply)
    assert fake.requests == []


async def test_multipart_upload_takes_no_coding(proxy):
    """The multipart parser reads the raw stream, so a coded form is refused up front."""
    form = aiohttp.FormData()
    form.add_field("file", b"{}", filename="a.json", content_type="application/json")
    async with aiohttp.ClientSession() as session:
        async with session.post(
            proxy.base_url + "/v0/management/auth-files",
            data=form,
            headers={**ADMIN, "Content-Encoding": "gzip"},
        ) as resp:
            assert resp.status == 415


# -- memory: the real process, a 1 GiB bomb per route ----------------------------------------


def _peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 256 * 1024):
        yield data[i : i + 256 * 1024]


async def _send_bomb(
    session: aiohttp.ClientSession, method: str, url: str, coding: str, headers: dict, chunked: bool
) -> int:
    bomb = BOMBS[coding](BOMB_MIB)
    data = _chunks(bomb) if chunked else io.BytesIO(bomb)  # BytesIO: sent with its length
    headers = {**headers, "Content-Encoding": coding, "Content-Type": "application/json"}
    async with session.request(method, url, data=data, headers=headers) as resp:
        await resp.read()
        return resp.status


async def test_a_1gib_bomb_costs_no_more_than_the_body_limit(fake, tmp_path):
    config = compat_config(fake.base_url, ["k"], **{"request-body-limit-mb": LIMIT_MIB})
    async with proxy_process(tmp_path, config) as proc:
        assert proc.proc is not None
        base = proc.base_url
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/v1/chat/completions", json=CHAT, headers=CLIENT) as r:
                assert r.status == 200  # warm: every code path of a request has run once
            before = _peak_rss_mib(proc.proc.pid)
            statuses = {}
            for coding in sorted(BOMBS):
                for n, (path, _fmt, _body) in enumerate(CLIENT_ROUTES):
                    chunked = n % 2 == 1  # with and without Content-Length
                    status = await _send_bomb(session, "POST", base + path, coding, CLIENT, chunked)
                    statuses[(coding, path)] = status
                for method, path in ADMIN_ROUTES:
                    status = await _send_bomb(session, method, base + path, coding, ADMIN, False)
                    statuses[(coding, path)] = status
                ack = {"Authorization": f"Bearer {COLLECTOR_KEY}"}
                status = await _send_bomb(
                    session, "POST", f"{base}/v0/usage/ack", coding, ack, True
                )
                statuses[(coding, "/v0/usage/ack")] = status
            after = _peak_rss_mib(proc.proc.pid)
    assert {key: status for key, status in statuses.items() if status != 413} == {}
    # The decoded bytes are held up to the limit, plus one decompress step and allocator slack.
    assert after - before < LIMIT_MIB + 16, (before, after)


async def test_a_compressed_upstream_answer_is_capped_on_its_decoded_size(fake, tmp_path):
    """An upstream (a custom provider is anyone's server) cannot bomb the proxy either: its
    gzip answer, small on the wire, is read up to the response cap, then refused as a 502."""
    bomb = BOMBS["gzip"](BOMB_MIB)
    config = compat_config(fake.base_url, ["k"], **{"disable-cooling": True})
    async with proxy_process(tmp_path, config) as proc:
        assert proc.proc is not None
        async with aiohttp.ClientSession() as session:
            url = f"{proc.base_url}/v1/chat/completions"
            async with session.post(url, json=CHAT, headers=CLIENT) as resp:
                assert resp.status == 200
            before = _peak_rss_mib(proc.proc.pid)
            statuses = []
            for status in (200, 500):  # the answer path and the error path
                fake.once(Reply(status=status, raw=bomb, headers={"Content-Encoding": "gzip"}))
                async with session.post(url, json=CHAT, headers=CLIENT) as resp:
                    statuses.append(resp.status)
            after = _peak_rss_mib(proc.proc.pid)
    assert statuses == [502, 500]  # the error keeps its status; its unreadable body is dropped
    assert after - before < 64 + 32, (before, after)  # the 64 MiB answer cap, plus slack
