"""The fake upstream as a process: the scripted and the fast (benchmark) mode answer clients."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(params=[[], ["--fast"]], ids=["scripted", "fast"])
async def upstream(request):
    port = free_port()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.openai_upstream",
        "--port",
        str(port),
        *request.param,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
        assert line.decode().strip() == f"listening http://127.0.0.1:{port}"
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        child.terminate()
        await child.wait()


async def test_process_answers_chat_and_models(upstream):
    """Non-stream, stream with usage, and the model list all work over a real socket."""
    body = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{upstream}/chat/completions", json=body) as response:
            answer = await response.json()
        assert answer["object"] == "chat.completion"
        assert answer["usage"]["total_tokens"] > 0

        stream_body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        async with http.post(f"{upstream}/chat/completions", json=stream_body) as response:
            assert response.content_type == "text/event-stream"
            frames = [line async for line in response.content if line.startswith(b"data: ")]
        assert frames[-1] == b"data: [DONE]\n"
        assert b'"choices":[]' in frames[-2]
        assert b'"usage":{' in frames[-2]

        async with http.get(f"{upstream}/models") as response:
            assert (await response.json())["data"][0]["id"] == "gpt-fake"
