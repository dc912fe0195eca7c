"""Codex, Antigravity, Gemini CLI, Kimi and xAI accounts served through the real proxy: an auth
file in auth-dir, official SDK clients of all four formats, refresh, cooldowns and quota, each
answered by the provider's fake (tests/fakes/oauth)."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests.fakes.oauth.harness import OAuthFakes
from tests.integration.proxy.harness import CLIENT_KEY, eventually, run_proxy
from tests.integration.proxy.oauth.conftest import MGMT, auth_files, oauth_config
from tests.integration.proxy.oauth.subscriptions import KINDS, MODEL, seed

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)


async def _served(proxy, kind: str) -> list[str]:
    """The answers of one request per SDK (OpenAI chat stream and not, Responses, Anthropic
    stream, google-genai) for `kind`'s model."""
    model, texts = MODEL[kind], []
    async with AsyncExitStack() as stack:
        chat = openai.AsyncOpenAI(api_key=CLIENT_KEY, base_url=f"{proxy.base_url}/v1")
        stack.push_async_callback(chat.close)
        done = await chat.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        )
        texts.append(done.choices[0].message.content)
        stream = await chat.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        texts.append("".join([c.choices[0].delta.content or "" async for c in stream if c.choices]))
        response = await chat.responses.create(model=model, input="hi")
        texts.append(response.output_text)
        claude = anthropic.AsyncAnthropic(api_key=CLIENT_KEY, base_url=proxy.base_url)
        stack.push_async_callback(claude.close)
        async with claude.messages.stream(
            model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ) as messages:
            texts.append(await messages.get_final_text())
        url = proxy.base_url
        google = genai.Client(api_key=CLIENT_KEY, http_options=types.HttpOptions(base_url=url))
        stack.push_async_callback(google.aio.aclose)
        answer = await google.aio.models.generate_content(model=model, contents="hi")
        texts.append(answer.text)
    return texts


@pytest.mark.parametrize("kind", KINDS)
async def test_an_auth_file_serves_every_sdk(tmp_path, oauth_fakes: OAuthFakes, session, kind):
    seeded = seed(oauth_fakes, kind, tmp_path / "auths", f"{kind}@example.com")
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        (entry,) = await eventually(lambda: auth_files(proxy, session))
        assert entry["type"] == kind and entry["auth_type"] == "oauth"
        assert await _served(proxy, kind) == [seeded.greeting] * 5
    served = oauth_fakes.log.select(kind="inference", status=200)
    assert len(served) == 5 and {r.account for r in served} == {seeded.account.email}
    assert not oauth_fakes.misplaced_secrets()
    assert not oauth_fakes.leaked_in(json.dumps(entry))


@pytest.mark.parametrize("kind", KINDS)
async def test_refresh_ahead_of_expiry(tmp_path, oauth_fakes: OAuthFakes, session, kind):
    # Tokens that expire inside every provider's lead (Codex: 5 days; others: 5 minutes).
    seeded = seed(oauth_fakes, kind, tmp_path / "auths", f"r-{kind}@example.com", ttl=120)
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        await oauth_fakes.log.wait_for(kind="refresh", account=seeded.account, within=15)
        assert oauth_fakes.log.refreshed_before_expiry(seeded.account)

        def rewritten() -> bool:
            data = seeded.data()
            token = data.get("token", data)
            return token["access_token"] != seeded.tokens.access_token

        await eventually(rewritten)
        async with openai.AsyncOpenAI(api_key=CLIENT_KEY, base_url=f"{proxy.base_url}/v1") as c:
            done = await c.chat.completions.create(
                model=MODEL[kind], messages=[{"role": "user", "content": "hi"}]
            )
        assert done.choices[0].message.content == seeded.greeting
    used = oauth_fakes.log.select(kind="inference")[-1]
    assert used.bearer != seeded.tokens.access_token


@pytest.mark.parametrize("kind", KINDS)
async def test_expired_token_is_refreshed_on_a_401(tmp_path, oauth_fakes: OAuthFakes, kind):
    seeded = seed(oauth_fakes, kind, tmp_path / "auths", f"x-{kind}@example.com")
    oauth_fakes.providers[kind].expire_now(seeded.account)  # the file still says "valid"
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        async with openai.AsyncOpenAI(api_key=CLIENT_KEY, base_url=f"{proxy.base_url}/v1") as c:
            done = await c.chat.completions.create(
                model=MODEL[kind], messages=[{"role": "user", "content": "hi"}]
            )
        assert done.choices[0].message.content == seeded.greeting
    statuses = [r.status for r in oauth_fakes.log.select(kind="inference")]
    assert statuses[-2:] == [401, 200]
    assert oauth_fakes.log.count(kind="refresh", account=seeded.account) == 1


RATE_LIMITED = {
    "codex": lambda fakes, acct: fakes.codex.usage_limit(acct, resets_in=3600),
    "antigravity": lambda fakes, acct: fakes.google.rate_limit(acct, "QUOTA_EXHAUSTED", 3600),
    "gemini": lambda fakes, acct: fakes.google.rate_limit(acct, "QUOTA_EXHAUSTED", 3600),
    "kimi": lambda fakes, acct: fakes.kimi.fail(
        acct,
        "inference",
        429,
        {"error": {"message": "rate limited", "type": "rate_limit"}},
        {"Retry-After": "600"},
        times=None,
    ),
    "xai": lambda fakes, acct: fakes.xai.fail(
        acct,
        "inference",
        429,
        {"code": "Too many requests", "error": "rate limited"},
        {"Retry-After": "600"},
        times=None,
    ),
}


@pytest.mark.parametrize("kind", KINDS)
async def test_a_429_moves_traffic_to_the_next_account(tmp_path, oauth_fakes, session, kind):
    auths = tmp_path / "auths"
    first = seed(oauth_fakes, kind, auths, f"a-{kind}@example.com")
    second = seed(oauth_fakes, kind, auths, f"b-{kind}@example.com")
    RATE_LIMITED[kind](oauth_fakes, first.account)
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        await eventually(lambda: _count(proxy, session, 2))
        answers = set()
        async with openai.AsyncOpenAI(api_key=CLIENT_KEY, base_url=f"{proxy.base_url}/v1") as c:
            for _ in range(4):
                done = await c.chat.completions.create(
                    model=MODEL[kind], messages=[{"role": "user", "content": "hi"}]
                )
                answers.add(done.choices[0].message.content)
        assert answers == {second.greeting}
        # The limited account was tried once, then rests (the reset hint, capped at 30 min).
        limited = oauth_fakes.log.select(kind="inference", account=first.account)
        assert [r.status for r in limited] == [429]
        files = {f["name"]: f for f in await auth_files(proxy, session)}
        assert files[first.path.name]["next_retry_after"]
        assert not files[second.path.name]["next_retry_after"]


async def _count(proxy, session, n: int) -> bool:
    return len(await auth_files(proxy, session)) == n


QUOTA_KINDS = ("codex", "antigravity", "gemini")


@pytest.mark.parametrize("kind", QUOTA_KINDS)
async def test_quota_lookup(tmp_path, oauth_fakes: OAuthFakes, session, kind):
    seeded = seed(oauth_fakes, kind, tmp_path / "auths", f"q-{kind}@example.com")
    if kind == "codex":
        oauth_fakes.codex.set_usage(seeded.account, "primary", 64, 900)
    else:
        oauth_fakes.google.set_model_quota(seeded.account, MODEL[kind], 0.4, 900)
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        (entry,) = await eventually(lambda: auth_files(proxy, session))
        url = f"{proxy.base_url}/v0/management/quota"
        async with session.get(url, params={"auth_index": entry["auth_index"]}, headers=MGMT) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
    assert body["provider"] == kind
    text = json.dumps(body)
    assert "64" in text if kind == "codex" else "60" in text
    assert not oauth_fakes.leaked_in(text)


@pytest.mark.parametrize("kind", ("kimi", "xai"))
async def test_no_quota_lookup_is_a_501(tmp_path, oauth_fakes: OAuthFakes, session, kind):
    seed(oauth_fakes, kind, tmp_path / "auths", f"n-{kind}@example.com")
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        (entry,) = await eventually(lambda: auth_files(proxy, session))
        url = f"{proxy.base_url}/v0/management/quota"
        async with session.get(url, params={"auth_index": entry["auth_index"]}, headers=MGMT) as r:
            assert r.status == 501


async def test_twenty_accounts_of_mixed_types_round_robin(tmp_path, oauth_fakes, session):
    """Four accounts of each of the five types: each type's model spreads evenly over its
    accounts, and every usage event names the account (auth_index, type), never a token."""
    auths = tmp_path / "auths"
    seeded = {
        k: [seed(oauth_fakes, k, auths, f"pool{i}-{k}@example.com") for i in range(4)]
        for k in KINDS
    }
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        await eventually(lambda: _count(proxy, session, 20))
        async with openai.AsyncOpenAI(api_key=CLIENT_KEY, base_url=f"{proxy.base_url}/v1") as c:
            for kind in KINDS:
                for _ in range(8):
                    await c.chat.completions.create(
                        model=MODEL[kind], messages=[{"role": "user", "content": "hi"}]
                    )
        queue = f"{proxy.base_url}/v0/management/usage-queue"
        async with session.get(queue, params={"count": 100}, headers=MGMT) as resp:
            events = await resp.json()
        indexes = {f["name"]: f["auth_index"] for f in await auth_files(proxy, session)}
    for kind, accounts in seeded.items():
        per_account = [
            oauth_fakes.log.count(kind="inference", account=s.account, status=200) for s in accounts
        ]
        assert per_account == [2, 2, 2, 2], (kind, per_account)
    assert len(events) == 40
    assert {e["auth_type"] for e in events} == {"oauth"}
    assert {e["executor_type"] for e in events} == set(KINDS)
    assert {e["auth_index"] for e in events} == set(indexes.values())
    assert not oauth_fakes.leaked_in(json.dumps(events))


# The dashboard's quota calls through api-call (reference §3.5, §4.5, §7.5), each on one of the
# provider's own hosts, with `$TOKEN$` replaced by the account's live token.
DASHBOARD_CALLS = {
    "codex": ("GET", "https://chatgpt.com/backend-api/wham/usage", "rate_limit"),
    "antigravity": (
        "POST",
        "https://daily-cloudcode-pa.googleapis.com/v1internal:fetchAvailableModels",
        "models",
    ),
    "gemini": (
        "POST",
        "https://daily-cloudcode-pa.googleapis.com/v1internal:fetchAvailableModels",
        "models",
    ),
}


@pytest.mark.parametrize("kind", list(DASHBOARD_CALLS))
async def test_dashboard_quota_through_api_call(tmp_path, oauth_fakes, session, kind):
    seeded = seed(oauth_fakes, kind, tmp_path / "auths", f"api-{kind}@example.com")
    method, target, key = DASHBOARD_CALLS[kind]
    header = {"Authorization": "Bearer $TOKEN$", "Content-Type": "application/json"}
    if kind == "codex":
        header["Chatgpt-Account-Id"] = seeded.account.id
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        (entry,) = await eventually(lambda: auth_files(proxy, session))
        call = {"auth_index": entry["auth_index"], "method": method, "url": target}
        call |= {"header": header, "data": "{}" if method == "POST" else ""}
        url = f"{proxy.base_url}/v0/management/api-call"
        async with session.post(url, json=call, headers=MGMT) as resp:
            assert resp.status == 200, await resp.text()
            reply = await resp.json()
        assert reply["status_code"] == 200 and key in json.loads(reply["body"])
        foreign = {**call, "url": "https://api.anthropic.com/api/oauth/usage"}
        async with session.post(url, json=foreign, headers=MGMT) as resp:
            assert resp.status == 403  # pinned to the provider's own hosts
    (used,) = oauth_fakes.log.select(kind="quota")
    assert used.bearer == seeded.tokens.access_token
    assert not oauth_fakes.leaked_in(json.dumps(reply["header"]))
