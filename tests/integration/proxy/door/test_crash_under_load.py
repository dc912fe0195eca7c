"""Issue 12: hostile bodies under concurrent load must not kill or corrupt the proxy process.

The real `python -m services.proxy` process serves every client format in front of every
upstream kind while bodies nested far too deep (the shape that aborted it with heap
corruption), bodies with wrong types and valid bodies, some nested just below the depth limit,
arrive concurrently. Afterwards it must be the same process, still answering.
"""

from __future__ import annotations

import asyncio
import itertools
from contextlib import AsyncExitStack
from typing import Any

import aiohttp

from tests.conftest import free_port
from tests.e2e.clis.gateway import CLIENT_KEYS, KINDS, Upstream, config
from tests.fakes import openai_upstream
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.responses_upstream import FakeResponses
from tests.fakes.wire_base import FakeServer
from tests.unit.proxy.translate.abort_repro import nested

from ..harness import ProxyProcess, write_config

HEADERS = {"Authorization": f"Bearer {CLIENT_KEYS['claude']}"}
CONCURRENCY = 24
DEPTH_LIMIT = 64


def _schema(depth: int, pad: int) -> dict[str, Any]:
    """A tool schema whose `default` nests `depth` arrays after `pad` enum entries (the padding
    moves the run of closing brackets across the serializer's buffer boundaries)."""
    props = {"p": {"type": "integer", "enum": [1] * pad}, "a": {"default": nested(depth)}}
    return {"type": "object", "properties": props}


def _request(fmt: str, kind: str, schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    model = KINDS[kind][2]
    if fmt == "gemini":
        declaration = {"name": "f", "parametersJsonSchema": schema}
        body = {
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "tools": [{"functionDeclarations": [declaration]}],
        }
        return f"/v1beta/models/{model}:generateContent", body
    if fmt == "anthropic":
        tool = {"name": "f", "input_schema": schema}
        body = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
        return "/v1/messages", {**body, "tools": [tool]}
    if fmt == "responses":
        tool = {"type": "function", "name": "f", "parameters": schema}
        return "/v1/responses", {"model": model, "input": "hi", "tools": [tool]}
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "tools": [tool]}
    return "/v1/chat/completions", body


WRONG_TYPES = [
    ("/v1/messages", {"model": KINDS["openai"][2], "messages": [{"content": 3.7}]}),
    (
        "/v1/chat/completions",
        {"model": KINDS["gemini"][2], "messages": [{"role": "user", "content": -5}]},
    ),
    (f"/v1beta/models/{KINDS['anthropic'][2]}:generateContent", {"contents": 0.5}),
    ("/v1/responses", {"model": KINDS["anthropic"][2], "input": [{"role": "user", "content": 1}]}),
]


def _load() -> list[tuple[str, dict[str, Any], bool]]:
    """(path, body, valid) for every format x upstream kind x depth x padding."""
    out: list[tuple[str, dict[str, Any], bool]] = []
    formats = ["openai", "anthropic", "gemini", "responses"]
    depths = [50, 200, 600]  # the schema's default sits 7-9 levels below the top: 50 is admitted
    for fmt, kind, depth in itertools.product(formats, KINDS, depths):
        for pad in range(150, 300, 25):
            path, body = _request(fmt, kind, _schema(depth, pad))
            out.append((path, body, depth < DEPTH_LIMIT))
    out += [(path, body, False) for path, body in WRONG_TYPES * 8]
    return out


async def _fire(session: aiohttp.ClientSession, base: str, load: list[Any]) -> list[tuple]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(path: str, body: dict[str, Any], valid: bool) -> tuple:
        async with gate:
            try:
                async with session.post(base + path, json=body, headers=HEADERS) as resp:
                    await resp.read()
                    return path, valid, resp.status
            except aiohttp.ClientError:  # the process died under us: reported below
                return path, valid, None

    return await asyncio.gather(*(one(*item) for item in load))


async def test_hostile_load_leaves_the_same_process_answering(tmp_path):
    async with AsyncExitStack() as stack:
        fakes: dict[str, FakeServer | openai_upstream.FakeOpenAI] = {
            "anthropic": FakeAnthropic(),
            "openai": openai_upstream.FakeOpenAI(),
            "gemini": FakeGemini(),
            "responses": FakeResponses(),
        }
        upstreams = {}
        for kind, fake in fakes.items():
            await stack.enter_async_context(fake)
            upstreams[kind] = Upstream(kind, fake)
        cfg = {**config(upstreams), "port": free_port()}
        path = tmp_path / "config.yaml"
        write_config(path, cfg)
        proc = ProxyProcess(path)
        await proc.start()
        stack.callback(proc.stop)
        assert proc.proc is not None
        pid = proc.proc.pid

        async with aiohttp.ClientSession() as session:
            results = await _fire(session, proc.base_url, _load())
            assert proc.proc.poll() is None and proc.proc.pid == pid, proc.logs()[-3000:]
            async with session.get(proc.base_url + "/healthz") as resp:
                assert resp.status == 200
        refused = [r for r in results if not r[1]]
        served = [r for r in results if r[1]]
        assert {status for _, _, status in refused} == {400}, refused[:5]
        assert {status for _, _, status in served} == {200}, served[:5]
        assert "request_crashed" not in proc.logs()
