"""Each real CLI (Claude Code, Codex, Gemini CLI) asks the real proxy one question, answered by
each upstream kind: its own format (passthrough) and the three others (translated).

The CLI's final answer must be the upstream's text, the usage event must carry the upstream's
token counts, and no client or upstream secret, nor the CLI's local paths, may reach events
or the proxy's logs.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.fakes.wire_base import Reply

from .agents import final_answer, run_cli
from .gateway import CLIENT_KEYS, KINDS, UPSTREAM_KEY, gateway

CLIS = ("claude", "codex", "gemini")
OWN_KIND = {"claude": "anthropic", "codex": "responses", "gemini": "gemini"}
ENDPOINT = {
    "claude": "POST /v1/messages",
    "codex": "POST /v1/responses",
    "gemini": "POST /v1beta/models/{model}:streamGenerateContent",
}


def _cases() -> list[object]:
    cases = []
    for cli in CLIS:
        for kind in KINDS:
            label = "passthrough" if OWN_KIND[cli] == kind else "translated"
            cases.append(pytest.param(cli, kind, id=f"{cli}-to-{kind}-{label}"))
    return cases


@pytest.mark.parametrize(("cli", "kind"), _cases())
async def test_cli_answer_comes_from_the_upstream(cli, kind, tmp_path, capfd):
    text = f"Pong from the fake {kind} upstream, for {cli}."
    async with gateway(tmp_path) as gw:
        upstream = gw.upstreams[kind]
        upstream.push(Reply(text=text, input_tokens=321, output_tokens=45))
        alias = KINDS[kind][2]
        run = await run_cli(cli, gw.base_url, alias, "Say pong.", tmp_path / "home")
        assert final_answer(cli, run) == text, run.describe()

        # One upstream call, to the right upstream, with the upstream's key, not the client's.
        asked = {k: len(u.bodies) for k, u in gw.upstreams.items() if u.bodies}
        assert asked == {kind: 1}, run.describe()
        assert upstream.upstream_keys() == {UPSTREAM_KEY}
        assert "Say pong." in json.dumps(upstream.bodies[0])

        events = await gw.events()
    assert len(events) == 1, events
    event = events[0]
    assert (event["alias"], event["model"]) == (alias, KINDS[kind][1])
    assert event["endpoint"] == ENDPOINT[cli].format(model=alias)
    assert event["stream"] is True and event["failed"] is False and event["status_code"] == 200
    # The CLI authenticated with its own key: api_key_id is 16 hex of the key's SHA-256.
    assert event["api_key_id"] == hashlib.sha256(CLIENT_KEYS[cli].encode()).hexdigest()[:16]
    assert event["tokens"]["input_tokens"] == 321
    assert event["tokens"]["output_tokens"] == 45
    raw = json.dumps(events)
    for secret in (*CLIENT_KEYS.values(), UPSTREAM_KEY, str(tmp_path)):
        assert secret not in raw
    # Nor in the proxy's logs; Codex's x-codex-turn-metadata header carries the CLI's cwd.
    logs = "".join(capfd.readouterr())
    assert "runtime_built" in logs  # the proxy logs to this process's stdout
    for secret in (*CLIENT_KEYS.values(), UPSTREAM_KEY, str(tmp_path / "home")):
        assert secret not in logs
