"""Pure parts of the OAuth layer: redirect parsing, states, aliases, Claude's rate-limit and beta
rules, and device polling (RFC 8628) with a scripted provider."""

from __future__ import annotations

import pytest

from services.proxy.config.model import OAuthAlias
from services.proxy.oauth.accounts import model_mappings
from services.proxy.oauth.logins import parse_redirect, poll_device, valid_state
from services.proxy.oauth.provider import (
    DeviceAuthorization,
    DevicePoll,
    LoginError,
    NewAccount,
    OAuthProvider,
    parse_time,
    rfc3339,
)
from services.proxy.oauth.providers import PROVIDERS, by_name
from services.proxy.oauth.providers.claude import betas, cloak, pkce, rate_limit_hint

NOW = 1_800_000_000.0


def test_parse_redirect_forms():
    cb = parse_redirect("http://localhost:54545/callback?code=abc&state=s1")
    assert (cb.code, cb.state, cb.error) == ("abc", "s1", "")
    assert parse_redirect("abc#s2").state == "s2"
    denied = parse_redirect("http://localhost:1455/auth/callback?error=access_denied&state=s3")
    assert denied.error == "access_denied" and denied.state == "s3"
    assert parse_redirect("http://x/cb#code=c&state=s4").code == "c"


@pytest.mark.parametrize("state", ["a" * 32, "kmi-0a1b", "x.y_z-1"])
def test_valid_states(state):
    assert valid_state(state)


@pytest.mark.parametrize("state", ["", "../x", "a/b", "a\\b", "a" * 129, "sp ace", "a..b"])
def test_invalid_states(state):
    assert not valid_state(state)


def test_provider_names_and_aliases():
    assert by_name("anthropic") is PROVIDERS["claude"] is by_name("Claude")
    assert by_name("gemini-cli") is PROVIDERS["gemini"]
    assert by_name("grok") is PROVIDERS["xai"] and by_name("qwen") is None


def test_model_alias_replaces_or_forks():
    aliases = [OAuthAlias(name="m1", alias="a1"), OAuthAlias(name="m2", alias="a2", fork=True)]
    pairs = [(m.alias or m.name, m.name) for m in model_mappings(("m1", "m2", "m3"), aliases, [])]
    assert pairs == [("a1", "m1"), ("m2", "m2"), ("a2", "m2"), ("m3", "m3")]
    from_file = model_mappings(("m3",), [], [{"name": "M3", "alias": "three"}])
    assert [(m.alias, m.name) for m in from_file] == [("three", "m3")]


def test_times_round_trip():
    assert parse_time(rfc3339(NOW)) == NOW
    assert parse_time("2026-01-01T00:00:00+00:00") == parse_time("2026-01-01T00:00:00Z")
    assert parse_time(NOW * 1000) == NOW and parse_time("soon") == 0.0 and parse_time(None) == 0.0


def _limited(**statuses: str) -> dict[str, str]:
    headers = {"anthropic-ratelimit-unified-status": "rejected"}
    for window, status in statuses.items():
        headers[f"anthropic-ratelimit-unified-{window}-status"] = status
        if status == "rejected":
            headers[f"anthropic-ratelimit-unified-{window}-reset"] = str(int(NOW + 7200))
    return headers


def test_rate_limit_takes_the_latest_reset_with_fuzz():
    headers = _limited(**{"5h": "rejected", "7d": "allowed"})
    headers["anthropic-ratelimit-unified-5h-reset"] = str(int(NOW + 600))
    headers["retry-after"] = "900"
    hint = rate_limit_hint(429, headers, NOW)
    assert hint is not None and hint.credential_wide
    assert hint.retry_after is not None and 901 <= hint.retry_after <= 930
    assert "5h" in hint.reason


def test_rate_limit_on_the_overage_window_alone_is_ignored():
    assert rate_limit_hint(429, _limited(**{"5h": "allowed", "7d_oi": "rejected"}), NOW) is None
    assert rate_limit_hint(500, _limited(**{"5h": "rejected"}), NOW) is None
    assert rate_limit_hint(429, {}, NOW) is None  # a plain 429: the generic rules


def test_rate_limit_without_a_reset_uses_the_generic_backoff():
    hint = rate_limit_hint(429, {"anthropic-ratelimit-unified-status": "rejected"}, NOW)
    assert hint is not None and hint.retry_after is None and hint.credential_wide


def test_betas_in_claude_code_order():
    plain = betas({}, "").split(",")
    assert plain[:2] == ["claude-code-20250219", "oauth-2025-04-20"]
    assert "advanced-tool-use-2025-11-20" not in plain
    asked = betas({"tools": [{}]}, "context-1m-2025-08-07, files-api-2025-04-14").split(",")
    assert asked.index("context-1m-2025-08-07") == 2
    assert "advanced-tool-use-2025-11-20" in asked and asked[-1] == "files-api-2025-04-14"


def test_cloak_moves_the_system_prompt_once():
    body = {"system": "Be terse.", "messages": [{"role": "user", "content": "hi"}]}
    cloak(body)
    assert body["system"][0]["text"].startswith("x-anthropic-billing-header: cc_version=")
    assert body["system"][1]["text"].startswith("You are Claude Code")
    first = body["messages"][0]["content"]
    assert "Be terse." in first[0]["text"] and first[1] == {"type": "text", "text": "hi"}
    again = {**body, "messages": [dict(m) for m in body["messages"]]}
    cloak(again)  # Claude Code's own prompt is kept as it is
    assert again["system"] == body["system"]


def test_pkce_pair():
    import base64
    import hashlib

    verifier, challenge = pkce()
    assert len(verifier) == 128  # 96 bytes, base64url without padding
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge == digest.decode()


class ScriptedDevice(OAuthProvider):
    """A device-flow provider answering polls from a script (the HTTP side is the fakes')."""

    info = PROVIDERS["kimi"].info

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes = outcomes

    async def device_poll(self, http, device):
        outcome = self.outcomes.pop(0)
        if outcome == "done":
            return DevicePoll("done", NewAccount("kimi-x.json", {"type": "kimi"}))
        return DevicePoll(outcome, message="denied by the user" if outcome == "denied" else "")


async def test_device_polling_follows_rfc8628():
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    device = DeviceAuthorization("dc", "UC", "https://v", interval=2, expires_in=600)
    provider = ScriptedDevice(["pending", "slow_down", "pending", "done"])
    account = await poll_device(provider, None, device, sleep=sleep)
    assert account.name == "kimi-x.json"
    assert waits == [2, 2, 7, 7]  # slow_down adds 5 s for every later poll

    with pytest.raises(LoginError, match="denied by the user"):
        await poll_device(ScriptedDevice(["pending", "denied"]), None, device, sleep=sleep)


@pytest.mark.parametrize(
    ("email", "name"),
    [
        ("a@example.com", "claude-a@example.com.json"),
        ("../../etc/passwd", "claude-etc-passwd.json"),
        ("a..b@x.com", "claude-a.b@x.com.json"),
        ("", "claude.json"),
        ("x/y\\z\x00@q", "claude-x-y-z-@q.json"),
    ],
)
def test_auth_file_names_are_sanitised(email, name):
    from services.proxy.oauth.auth_files import safe_name

    assert safe_name("claude", email) == name


def _entry(data: dict, **token: object):
    from services.proxy.oauth.accounts import AccountEntry
    from services.proxy.oauth.auth_files import AuthFile
    from services.proxy.routing.token_state import TokenState

    state = TokenState(refresh_token="r", **token)  # type: ignore[arg-type]
    return AccountEntry(
        AuthFile("claude-x.json", 1, 0.0, data), PROVIDERS["claude"], state, (0, 0, 0)
    )


def test_background_refresh_is_due_by_lead_or_interval():
    from services.proxy.oauth.refresher import Refresher

    due = Refresher(None, None).due  # type: ignore[arg-type]
    lead = 4 * 3600
    assert due(_entry({}, expires_at=NOW + lead - 1), NOW)
    assert not due(_entry({}, expires_at=NOW + lead + 60), NOW)
    hourly = {"refresh_interval_seconds": 3600}
    assert due(_entry(hourly, expires_at=NOW + 86400, last_refresh=NOW - 3601), NOW)
    assert not due(_entry(hourly, expires_at=NOW + 86400, last_refresh=NOW - 60), NOW)
    assert not due(_entry({"disabled": True}, expires_at=NOW), NOW)
    assert not due(_entry({}, expires_at=NOW, unavailable=True), NOW)
    waiting = _entry({}, expires_at=NOW)
    waiting.failed_until = NOW + 60
    assert not due(waiting, NOW)
