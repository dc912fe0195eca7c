"""Model ids as docs/clients.md tells users to write them: `prefix/alias(thinking)`.

Each CLI sends the id its own way (Gemini CLI puts it, slash and all, in the URL path); the
proxy must route it by prefix and alias and turn the suffix into the upstream's thinking field.
"""

from __future__ import annotations

import pytest

from tests.fakes.wire_base import Reply

from .agents import final_answer, run_cli
from .gateway import KINDS, PREFIX, gateway


@pytest.mark.parametrize("cli", ["claude", "codex", "gemini"])
async def test_prefixed_model_with_thinking_budget(cli, tmp_path):
    alias = f"{PREFIX}/{KINDS['gemini'][2]}"
    async with gateway(tmp_path) as gw:
        upstream = gw.upstreams["gemini"]
        upstream.push(Reply(text="Thought about it.", input_tokens=50, output_tokens=5))
        run = await run_cli(cli, gw.base_url, f"{alias}(1024)", "Think.", tmp_path / "home")
        assert final_answer(cli, run) == "Thought about it."
        (body,) = upstream.bodies
        assert body["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 1024
        (event,) = await gw.events()
    assert (event["alias"], event["model"]) == (alias, KINDS["gemini"][1])
