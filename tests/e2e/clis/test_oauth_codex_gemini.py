"""The real Codex CLI answered through a ChatGPT (Codex) subscription account, and the real
Gemini CLI through a Gemini CLI (Code Assist) account.

Each CLI talks to our proxy with a client key in its own wire format (Codex: a streamed
Responses call with its developer prompt, namespaced tools and `store:false`; Gemini CLI: a
streamed generateContent with its system instruction and tools). The proxy sends it upstream
with the account's OAuth token to the provider's fake, which enforces what the real backend
requires (Codex: stream, store:false, instructions, Chatgpt-Account-Id, no token limits;
Code Assist: the `{project, model, request}` envelope on the account's project).
"""

from __future__ import annotations

from tests.fakes.oauth.harness import OAuthFakes
from tests.integration.proxy.harness import run_proxy
from tests.integration.proxy.oauth.conftest import oauth_config
from tests.integration.proxy.oauth.subscriptions import seed

from .agents import final_answer, require, run_cli
from .gateway import CLIENT_KEYS


async def test_codex_cli_through_a_chatgpt_account(tmp_path, oauth_fakes: OAuthFakes):
    require("codex")
    seeded = seed(oauth_fakes, "codex", tmp_path / "auths", "codex-cli@example.com")
    config = oauth_config(tmp_path, oauth_fakes, **{"api-keys": [CLIENT_KEYS["codex"]]})
    async with run_proxy(tmp_path / "proxy", config) as proxy:
        run = await run_cli("codex", proxy.base_url, "gpt-5.5", "say hi", tmp_path / "home")
        assert final_answer("codex", run) == seeded.greeting

    (sent,) = oauth_fakes.log.select(provider="codex", kind="inference", status=200)
    assert sent.headers["Chatgpt-Account-Id"] == seeded.account.id
    assert sent.headers["Authorization"] == f"Bearer {seeded.tokens.access_token}"
    assert sent.body["stream"] is True and sent.body["store"] is False
    assert isinstance(sent.body["instructions"], str)
    assert len(sent.body["tools"]) > 1  # the CLI's own tools went through
    assert not oauth_fakes.leaked_in(run.stdout + run.stderr)


async def test_gemini_cli_through_a_code_assist_account(tmp_path, oauth_fakes: OAuthFakes):
    require("gemini")
    seeded = seed(oauth_fakes, "gemini", tmp_path / "auths", "gemini-cli@example.com")
    config = oauth_config(tmp_path, oauth_fakes, **{"api-keys": [CLIENT_KEYS["gemini"]]})
    async with run_proxy(tmp_path / "proxy", config) as proxy:
        run = await run_cli("gemini", proxy.base_url, "gemini-2.5-pro", "say hi", tmp_path / "home")
        assert final_answer("gemini", run) == seeded.greeting

    sent = oauth_fakes.log.select(provider="gemini", kind="inference", status=200)
    assert sent and all(r.body["project"] == seeded.account.project for r in sent)
    assert sent[-1].path == "/v1internal:streamGenerateContent"
    assert sent[-1].headers["User-Agent"].startswith("GeminiCLI/")
    assert not oauth_fakes.leaked_in(run.stdout + run.stderr)
