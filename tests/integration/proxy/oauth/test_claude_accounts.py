"""Claude accounts from auth files: refresh, 401, invalid_grant, 429 failover, api-call, quota."""

from __future__ import annotations

import asyncio
import json
import time

import anthropic
import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.oauth.harness import OAuthFakes
from tests.integration.proxy.harness import CLIENT_KEY, eventually, run_proxy
from tests.integration.proxy.oauth.conftest import (
    MGMT,
    auth_files,
    oauth_config,
    seed_claude,
)

MODEL = "claude-sonnet-4-6"


async def _ask(proxy) -> str:
    async with anthropic.AsyncAnthropic(
        api_key=CLIENT_KEY, base_url=proxy.base_url, max_retries=0
    ) as client:
        reply = await client.messages.create(
            model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    return reply.content[0].text


async def test_refresh_ahead_of_expiry_writes_back(tmp_path, oauth_fakes: OAuthFakes, session):
    account = oauth_fakes.claude.add_account("soon@example.com")
    # One hour left, inside Claude's 4 h lead: the background refresh runs at start.
    old = oauth_fakes.claude.issue(account, ttl=3600)
    path = seed_claude(tmp_path / "auths", account, old, note="kept")
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        await oauth_fakes.log.wait_for(provider="claude", kind="refresh", status=200)
        assert oauth_fakes.log.refreshed_before_expiry(account)

        def rewritten() -> dict | None:
            data = json.loads(path.read_text())
            return data if data["access_token"] != old.access_token else None

        data = await eventually(rewritten)
        assert data["refresh_token"] != old.refresh_token  # rotated, and kept
        assert data["note"] == "kept" and data["email"] == "soon@example.com"
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert await _ask(proxy) == "Hello from claude account soon@example.com."
        used = oauth_fakes.log.select(provider="claude", kind="inference")[-1]
        assert used.headers["Authorization"] == f"Bearer {data['access_token']}"
        # One refresh only: single flight, and the new expiry is past the lead.
        assert oauth_fakes.log.count(provider="claude", kind="refresh") == 1


async def test_a_401_refreshes_once_and_retries(tmp_path, oauth_fakes: OAuthFakes, session):
    account = oauth_fakes.claude.add_account("stale@example.com")
    tokens = oauth_fakes.claude.issue(account)
    seed_claude(tmp_path / "auths", account, tokens)
    oauth_fakes.claude.expire_now(account)  # the file still says 8 h
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        assert await _ask(proxy) == "Hello from claude account stale@example.com."
        statuses = [r.status for r in oauth_fakes.log.select(provider="claude", kind="inference")]
        assert statuses == [401, 200]
        assert oauth_fakes.log.count(provider="claude", kind="refresh", status=200) == 1


async def test_invalid_grant_marks_the_account(tmp_path, oauth_fakes: OAuthFakes, session):
    account = oauth_fakes.claude.add_account("gone@example.com")
    tokens = oauth_fakes.claude.issue(account, ttl=60)
    seed_claude(tmp_path / "auths", account, tokens)
    oauth_fakes.claude.revoke(account)
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        await oauth_fakes.log.wait_for(provider="claude", kind="refresh", status=400)

        async def marked():
            (entry,) = await auth_files(proxy, session)
            return entry if entry["status"] == "error" else None

        entry = await eventually(marked)
        assert entry["unavailable"] is True and "invalid_grant" in entry["status_message"]
        with pytest.raises(anthropic.APIStatusError) as caught:
            await _ask(proxy)
        assert caught.value.status_code == 503
        assert oauth_fakes.log.count(provider="claude", kind="refresh") == 1  # never again

        # A new file (a new login, an upload) makes the account usable again.
        fresh = oauth_fakes.claude.issue(account)
        seed_claude(tmp_path / "auths", account, fresh)

        async def active():
            (entry,) = await auth_files(proxy, session)
            return entry["status"] == "active"

        await eventually(active)
        assert await _ask(proxy) == "Hello from claude account gone@example.com."


async def test_rate_limit_moves_traffic_and_is_capped(tmp_path, oauth_fakes: OAuthFakes, session):
    first = oauth_fakes.claude.add_account("a@example.com")
    second = oauth_fakes.claude.add_account("b@example.com")
    for account in (first, second):
        seed_claude(tmp_path / "auths", account, oauth_fakes.claude.issue(account))
    oauth_fakes.claude.rate_limit(first, windows=("5h",), reset_in=3 * 86400)
    config = oauth_config(tmp_path, oauth_fakes, routing={"strategy": "fill-first"})
    async with run_proxy(tmp_path, config) as proxy:
        answers = {await _ask(proxy) for _ in range(3)}
        assert answers == {"Hello from claude account b@example.com."}
        assert oauth_fakes.log.count(provider="claude", kind="inference", status=429) == 1
        async with session.get(f"{proxy.base_url}/v0/management/auth-files", headers=MGMT) as r:
            entries = {e["email"]: e for e in (await r.json())["files"]}
        retry = entries["a@example.com"]["next_retry_after"]
        assert retry is not None
        left = time.mktime(time.strptime(retry, "%Y-%m-%dT%H:%M:%SZ")) - time.mktime(time.gmtime())
        assert 60 < left <= 1800 + 60  # the 3-day reset is capped at 30 min (+ fuzz)


async def test_api_call_and_quota_with_oauth_token(tmp_path, oauth_fakes: OAuthFakes, session):
    account = oauth_fakes.claude.add_account("q@example.com", plan="max")
    oauth_fakes.claude.set_usage(account, "five_hour", 42.0, 3600)
    seed_claude(tmp_path / "auths", account, oauth_fakes.claude.issue(account))
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        (entry,) = await auth_files(proxy, session)
        index = entry["auth_index"]
        call = {
            "auth_index": index,
            "method": "GET",
            "url": "https://api.anthropic.com/api/oauth/usage",
            "header": {"Authorization": "Bearer $TOKEN$", "anthropic-beta": "oauth-2025-04-20"},
        }
        url = f"{proxy.base_url}/v0/management/api-call"
        async with session.post(url, json=call, headers=MGMT) as resp:
            assert resp.status == 200, await resp.text()
            reply = await resp.json()
        assert reply["status_code"] == 200
        assert json.loads(reply["body"])["five_hour"]["utilization"] == 42.0
        elsewhere = {**call, "url": "https://chatgpt.com/backend-api/wham/usage"}
        async with session.post(url, json=elsewhere, headers=MGMT) as resp:
            assert resp.status == 403  # pinned to Claude's own hosts

        quota_url = f"{proxy.base_url}/v0/management/quota"
        async with session.get(quota_url, params={"auth_index": index}, headers=MGMT) as resp:
            assert resp.status == 200, await resp.text()
            quota = await resp.json()
        assert quota["plan"] == "plan_max" and quota["provider"] == "claude"
        five = next(w for w in quota["windows"] if w["id"] == "five_hour")
        assert five["used_percent"] == 42.0 and five["window_seconds"] == 18000
        assert abs(five["remaining_fraction"] - 0.58) < 1e-9
        assert not oauth_fakes.leaked_in(json.dumps([reply["header"], quota]))

        oauth_fakes.claude.fail(account, "quota", 401, {"error": {"message": "expired"}})
        async with session.get(quota_url, params={"auth_index": index}, headers=MGMT) as resp:
            assert resp.status == 502
            assert "needs re-authentication" in (await resp.json())["error"]
        async with session.get(quota_url, params={"auth_index": "0" * 16}, headers=MGMT) as resp:
            assert resp.status == 404


async def test_file_settings_and_usage_events(tmp_path, oauth_fakes: OAuthFakes, session):
    account = oauth_fakes.claude.add_account("set@example.com")
    path = seed_claude(tmp_path / "auths", account, oauth_fakes.claude.issue(account))
    aliases = {"claude": [{"name": MODEL, "alias": "house-model"}]}
    config = oauth_config(
        tmp_path,
        oauth_fakes,
        **{"oauth-model-alias": aliases, "oauth-excluded-models": {"claude": ["claude-opus-*"]}},
    )
    async with run_proxy(tmp_path, config) as proxy:
        async with session.get(
            f"{proxy.base_url}/v1/models", headers={"Authorization": f"Bearer {CLIENT_KEY}"}
        ) as r:
            ids = {m["id"] for m in (await r.json())["data"]}
        assert "house-model" in ids and MODEL not in ids
        assert not any(i.startswith("claude-opus-") for i in ids)

        # A prefix set through the management API is live within a second.
        patch = {"name": path.name, "prefix": "team"}
        url = f"{proxy.base_url}/v0/management/auth-files/fields"
        async with session.patch(url, json=patch, headers=MGMT) as resp:
            assert resp.status == 200
        async with anthropic.AsyncAnthropic(api_key=CLIENT_KEY, base_url=proxy.base_url) as c:
            reply = await c.messages.create(
                model="team/house-model", max_tokens=8, messages=[{"role": "user", "content": "x"}]
            )
        assert reply.content[0].text.startswith("Hello from claude")

        queue = f"{proxy.base_url}/v0/management/usage-queue"
        async with session.get(queue, params={"count": 10}, headers=MGMT) as resp:
            events = await resp.json()
        (event,) = [e for e in events if e.get("status_code") == 200]
        assert event["auth_type"] == "oauth" and event["executor_type"] == "claude"
        assert event["source"] == "set@example.com"
        assert not oauth_fakes.leaked_in(json.dumps(events))

        # Disabled on disk: the account serves nothing.
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "disabled": True}))

        async def gone():
            async with session.get(
                f"{proxy.base_url}/v1/models", headers={"Authorization": f"Bearer {CLIENT_KEY}"}
            ) as r:
                return not (await r.json())["data"]

        await eventually(gone, limit=2)


async def test_concurrent_401s_share_one_refresh(tmp_path, oauth_fakes: OAuthFakes, session):
    account = oauth_fakes.claude.add_account("busy@example.com")
    seed_claude(tmp_path / "auths", account, oauth_fakes.claude.issue(account))
    oauth_fakes.claude.expire_now(account)
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        answers = await asyncio.gather(*(_ask(proxy) for _ in range(8)))
        assert set(answers) == {"Hello from claude account busy@example.com."}
        # Claude rotates refresh tokens: a second refresh with the old one would be refused.
        assert oauth_fakes.log.count(provider="claude", kind="refresh") == 1


async def test_refresh_retries_5xx_and_runs_while_cooling(
    tmp_path, oauth_fakes: OAuthFakes, session
):
    account = oauth_fakes.claude.add_account("cool@example.com")
    seed_claude(tmp_path / "auths", account, oauth_fakes.claude.issue(account, ttl=600))
    oauth_fakes.claude.rate_limit(account, reset_in=3600)  # the account is cooling
    oauth_fakes.claude.fail_refresh(account, "server_error", times=1)
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        with pytest.raises(anthropic.RateLimitError):
            await _ask(proxy)
        # The 503 is retried a second later and the cooling account still gets its new token.
        await oauth_fakes.log.wait_for(provider="claude", kind="refresh", status=200)
        statuses = [r.status for r in oauth_fakes.log.select(provider="claude", kind="refresh")]
        assert statuses == [503, 200]


async def test_twenty_accounts_round_robin(tmp_path, oauth_fakes: OAuthFakes, session):
    emails = [f"pool{i:02d}@example.com" for i in range(20)]
    for email in emails:
        account = oauth_fakes.claude.add_account(email)
        seed_claude(tmp_path / "auths", account, oauth_fakes.claude.issue(account))
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        answers = [await _ask(proxy) for _ in range(40)]
    counts = {email: sum(email in a for a in answers) for email in emails}
    assert set(counts.values()) == {2}


async def test_uploaded_file_serves_within_a_second(tmp_path, oauth_fakes: OAuthFakes, session):
    account = oauth_fakes.claude.add_account("up@example.com")
    source = seed_claude(tmp_path / "seed", account, oauth_fakes.claude.issue(account))
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        url = f"{proxy.base_url}/v0/management/auth-files"
        params = {"name": source.name}
        async with session.post(url, params=params, data=source.read_bytes(), headers=MGMT) as r:
            assert r.status == 200
        started = time.monotonic()
        assert await _ask(proxy) == "Hello from claude account up@example.com."
        assert time.monotonic() - started < 1.0
        async with session.delete(url, params=params, headers=MGMT) as r:
            assert r.status == 200
        with pytest.raises(anthropic.APIStatusError):
            await _ask(proxy)


async def test_refresh_rate_limited_waits_and_says_so(tmp_path, oauth_fakes: OAuthFakes, session):
    account = oauth_fakes.claude.add_account("wait@example.com")
    seed_claude(tmp_path / "auths", account, oauth_fakes.claude.issue(account, ttl=3600))
    oauth_fakes.claude.fail_refresh(account, "rate_limited", times=1, retry_after=120)
    async with run_proxy(tmp_path, oauth_config(tmp_path, oauth_fakes)) as proxy:
        await oauth_fakes.log.wait_for(provider="claude", kind="refresh", status=429)

        async def noted():
            (entry,) = await auth_files(proxy, session)
            return entry if "rate limited" in entry["status_message"] else None

        entry = await eventually(noted)
        # Not retried at once (a 429 is not retryable), still serving with its valid token.
        assert entry["status"] == "active" and entry["unavailable"] is False
        assert entry["next_retry_after"] is not None
        assert oauth_fakes.log.count(provider="claude", kind="refresh") == 1
        assert await _ask(proxy) == "Hello from claude account wait@example.com."


async def test_exhausted_subscription_fails_over_to_an_api_key(
    tmp_path, oauth_fakes: OAuthFakes, session
):
    account = oauth_fakes.claude.add_account("sub@example.com")
    # The subscription first (priority 1), the API key as the backup tier.
    seed_claude(tmp_path / "auths", account, oauth_fakes.claude.issue(account), priority=1)
    oauth_fakes.claude.rate_limit(account, windows=("5h", "7d"), reset_in=7200)
    async with FakeAnthropic() as keyed:
        key = {"api-key": "sk-ant-api-key", "base-url": keyed.base_url, "models": [{"name": MODEL}]}
        config = oauth_config(
            tmp_path,
            oauth_fakes,
            **{"claude-api-key": [key], "routing": {"strategy": "fill-first"}},
        )
        async with run_proxy(tmp_path, config) as proxy:
            answers = [await _ask(proxy) for _ in range(3)]
    assert answers == ["Hello from the fake upstream."] * 3
    # One 429 from the subscription, then it cools and the key serves.
    assert oauth_fakes.log.count(provider="claude", kind="inference") == 1
