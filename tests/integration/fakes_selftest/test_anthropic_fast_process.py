"""The Anthropic fake's fast (benchmark) mode as a process: the official SDK reads its answers."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import anthropic
import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
async def upstream():
    port = free_port()
    child = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.fakes.anthropic_upstream", "--port", str(port)),
        *("--fast", "--chunks", "17"),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
        assert line.decode().strip() == f"listening http://127.0.0.1:{port}"
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        await child.wait()


async def test_fast_mode_answers_whole_and_streamed(upstream):
    """The same 17 words whole and as 17 text deltas, with usage, parsed by the SDK."""
    client = anthropic.AsyncAnthropic(base_url=upstream, api_key="k", max_retries=0)
    kwargs = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
    }
    whole = await client.messages.create(**kwargs)
    assert whole.content[0].text == " ".join(["word"] * 17)
    assert whole.usage.output_tokens == 7
    deltas = []
    async with client.messages.stream(**kwargs) as stream:
        async for event in stream:
            if event.type == "content_block_delta":
                deltas.append(event.delta.text)
        final = await stream.get_final_message()
    assert len(deltas) == 17
    assert "".join(deltas) == whole.content[0].text
    assert final.usage.output_tokens == 7
    await client.close()
