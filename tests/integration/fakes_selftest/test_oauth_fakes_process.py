"""The OAuth fakes as a process: ports file, overrides, and scripting over the control API."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp
import pytest

REPO = Path(__file__).resolve().parents[3]
HEADERS = {"anthropic-version": "2023-06-01", "anthropic-beta": "oauth-2025-04-20"}
BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 8,
    "messages": [{"role": "user", "content": "Hi"}],
}


@pytest.fixture
async def fakes_process(tmp_path):
    ports = tmp_path / "ports.json"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.oauth",
        "--ports-file",
        str(ports),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = (await asyncio.wait_for(child.stdout.readline(), timeout=60)).decode().strip()
        info = json.loads(ports.read_text())
        assert line == f"listening {info['control']}"
        yield info
    finally:
        child.terminate()
        await child.wait()


async def test_process_serves_and_is_scripted_over_control(fakes_process):
    overrides, control = fakes_process["overrides"], fakes_process["control"]
    assert len(overrides) == 17 and "https://cli-chat-proxy.grok.com" in overrides
    messages = overrides["https://api.anthropic.com"] + "/v1/messages?beta=true"
    async with aiohttp.ClientSession() as http:

        async def call(method: str, **body):
            async with http.post(
                f"{control}/call", json={"provider": "claude", "method": method, **body}
            ) as r:
                assert r.status == 200, await r.text()
                return await r.json()

        account = await call("add_account", args={"email": "p@example.com", "plan": "max"})
        assert account["email"] == "p@example.com"
        tokens = await call("issue", account="p@example.com")
        headers = {**HEADERS, "Authorization": f"Bearer {tokens['access_token']}"}

        async with http.post(
            f"{control}/push", json={"provider": "claude", "replies": [{"text": "scripted"}]}
        ):
            pass
        async with http.post(messages, json=BODY, headers=headers) as r:
            assert (await r.json())["content"][0]["text"] == "scripted"

        await call("rate_limit", account="p@example.com", args={"reset_in": 60})
        async with http.post(messages, json=BODY, headers=headers) as r:
            assert r.status == 429
            assert r.headers["anthropic-ratelimit-unified-5h-status"] == "rejected"

        async with http.post(
            f"{control}/call", json={"provider": "claude", "method": "grants"}
        ) as r:
            assert r.status == 400  # only the scripting methods are reachable

        async with http.get(f"{control}/requests") as r:
            seen = [e for e in await r.json() if e["kind"] == "inference"]
        assert [(e["account"], e["status"]) for e in seen] == [
            ("p@example.com", 200),
            ("p@example.com", 429),
        ]
