"""A real tool turn: the upstream asks each CLI to read a file with the CLI's own tool, the CLI
runs it and sends the result back through the proxy, and the upstream then answers in text.

This covers what a one-line answer cannot: the CLIs' real tool schemas going upstream, a tool
call coming back in the client's format, and the tool result going out in the upstream's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.wire_base import Reply

from .agents import final_answer, run_cli
from .gateway import KINDS, gateway

NOTE = "The gateway note says: kiwi-7193."


def read_call(cli: str, note: Path) -> tuple[str, dict[str, Any]]:
    """The CLI's own read tool, as its model would call it."""
    if cli == "claude":
        return "Read", {"file_path": str(note)}
    if cli == "codex":
        return "exec_command", {"cmd": f"cat {note.name}"}
    return "read_file", {"file_path": str(note)}


CASES = [
    pytest.param("claude", "anthropic", id="claude-to-anthropic-passthrough"),
    pytest.param("claude", "openai", id="claude-to-openai-translated"),
    pytest.param("codex", "responses", id="codex-to-responses-passthrough"),
    pytest.param("codex", "anthropic", id="codex-to-anthropic-translated"),
    pytest.param("gemini", "gemini", id="gemini-to-gemini-passthrough"),
    pytest.param("gemini", "responses", id="gemini-to-responses-translated"),
]


@pytest.mark.parametrize(("cli", "kind"), CASES)
async def test_cli_runs_a_tool_and_returns_its_result(cli, kind, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    note = work / "note.txt"
    note.write_text(NOTE + "\n")
    done = "I read the note."
    async with gateway(tmp_path) as gw:
        upstream = gw.upstreams[kind]
        upstream.push(Reply(text="", tool=read_call(cli, note), input_tokens=200, output_tokens=20))
        upstream.push(Reply(text=done, input_tokens=260, output_tokens=8))
        run = await run_cli(
            cli, gw.base_url, KINDS[kind][2], "Read note.txt.", tmp_path / "home", cwd=work
        )
        assert final_answer(cli, run) == done, run.describe()
        bodies = upstream.bodies
        assert len(bodies) == 2, run.describe()
        # The file's text reached the upstream only through the CLI's tool result.
        assert "kiwi-7193" not in json.dumps(bodies[0])
        assert "kiwi-7193" in json.dumps(bodies[1]), run.describe()
        events = await gw.events()
    tokens = [(e["tokens"]["input_tokens"], e["tokens"]["output_tokens"]) for e in events]
    assert tokens == [(200, 20), (260, 8)]
