"""The real Claude Code CLI answered through a Claude subscription (OAuth) account.

Claude Code talks to our proxy with a client key; the proxy sends its request (its own system
prompt, 20+ tools, adaptive thinking, a streamed `?beta=true` call) upstream with the account's
OAuth token to the Claude fake, which enforces what the real service requires of such calls.
"""

from __future__ import annotations

import json

from tests.fakes.oauth.harness import OAuthFakes
from tests.integration.proxy.harness import run_proxy
from tests.integration.proxy.oauth.conftest import oauth_config, seed_claude

from .agents import final_answer, require, run_cli
from .gateway import CLIENT_KEYS


async def test_claude_code_through_an_oauth_account(tmp_path, oauth_fakes: OAuthFakes):
    require("claude")
    account = oauth_fakes.claude.add_account("cc@example.com", plan="max")
    seed_claude(tmp_path / "auths", account, oauth_fakes.claude.issue(account))
    config = oauth_config(tmp_path, oauth_fakes, **{"api-keys": [CLIENT_KEYS["claude"]]})
    async with run_proxy(tmp_path / "proxy", config) as proxy:
        run = await run_cli(
            "claude", proxy.base_url, "claude-sonnet-4-6", "say hi", tmp_path / "home"
        )
        assert final_answer("claude", run) == "Hello from claude account cc@example.com."

    (sent,) = oauth_fakes.log.select(provider="claude", kind="inference", status=200)
    assert sent.query.get("beta") == "true" and sent.body["stream"] is True
    assert sent.headers["Authorization"].startswith("Bearer sk-ant-oat01-")
    assert "x-api-key" not in sent.headers  # the client's key never goes upstream
    assert "oauth-2025-04-20" in sent.headers["anthropic-beta"]
    assert len(sent.body["tools"]) > 5  # Claude Code's own tools went through untouched
    # Claude Code's own system prompt is kept as it is (no second cloak).
    system_text = json.dumps(sent.body["system"])
    assert system_text.count("You are Claude Code") == 1
    assert not oauth_fakes.leaked_in(run.stdout + run.stderr)
