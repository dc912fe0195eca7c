"""An upstream that refuses the request (400): each CLI must see a failure it understands, in
its own error format and with the upstream's message, and the proxy must record failed usage
events.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fakes import openai_upstream
from tests.fakes.wire_base import Reply

from .agents import Run, run_cli
from .gateway import KINDS, Upstream, gateway

MESSAGE = "zebra-context-too-long"
CASES = [
    pytest.param("claude", "anthropic", id="claude-to-anthropic-passthrough"),
    pytest.param("claude", "openai", id="claude-to-openai-translated"),
    pytest.param("codex", "responses", id="codex-to-responses-passthrough"),
    pytest.param("codex", "anthropic", id="codex-to-anthropic-translated"),
    pytest.param("gemini", "gemini", id="gemini-to-gemini-passthrough"),
    pytest.param("gemini", "responses", id="gemini-to-responses-translated"),
]


def refuse(upstream: Upstream, times: int) -> None:
    for _ in range(times):
        if isinstance(upstream.fake, openai_upstream.FakeOpenAI):
            error = {"error": {"message": MESSAGE, "type": "invalid_request_error"}}
            upstream.fake.once(openai_upstream.Reply(status=400, body=error))
        else:
            upstream.push(Reply(status=400, error=MESSAGE))


def reported_error(cli: str, run: Run) -> tuple[int | None, str]:
    """(status, message) of the failure as the CLI reports it in its JSON output."""
    if cli == "claude":
        result = json.loads(run.stdout)
        assert result["is_error"] is True, run.describe()
        return result["api_error_status"], result["result"]
    if cli == "codex":
        events = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
        failed = [e for e in events if e["type"] == "turn.failed"]
        assert failed, run.describe()
        # Codex shows the error body as it came; its OpenAI type stands for the 400.
        error = json.loads(failed[0]["error"]["message"])["error"]
        return 400 if error.get("type") == "invalid_request_error" else None, error["message"]
    # Gemini CLI prints the failure as a JSON document on stderr, after a stack trace.
    error = last_json_document(run.stderr)["error"]
    return error["code"], error["message"]


def last_json_document(text: str) -> dict[str, Any]:
    """The last JSON object in `text` that starts on a line of its own."""
    decoder = json.JSONDecoder()
    found: dict[str, Any] = {}
    offset = 0
    for line in text.splitlines(keepends=True):
        if line == "{\n":
            found = decoder.raw_decode(text, offset)[0]
        offset += len(line)
    assert found, text[-2000:]
    return found


@pytest.mark.parametrize(("cli", "kind"), CASES)
async def test_upstream_refusal_reaches_the_cli(cli, kind, tmp_path):
    async with gateway(tmp_path) as gw:
        upstream = gw.upstreams[kind]
        refuse(upstream, 10)  # Claude Code retries a 400 with reshaped bodies, up to 6 times
        run = await run_cli(cli, gw.base_url, KINDS[kind][2], "Hi.", tmp_path / "home")
        assert run.returncode != 0, run.describe()
        status, message = reported_error(cli, run)
        events = await gw.events()
    assert status == 400, run.describe()
    assert events and len(events) == len(upstream.bodies)
    assert all(e["failed"] is True and e["status_code"] == 400 for e in events)
    # Translated or not, the user reads what the upstream said.
    assert MESSAGE in message, run.describe()
