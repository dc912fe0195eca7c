"""The management API mounted in the real proxy: writes apply live to inference."""

from __future__ import annotations

import aiohttp

from tests.fakes.openai_upstream import Reply

from ..harness import CLIENT_KEY, MANAGEMENT_KEY, compat_config, eventually, run_proxy

ADMIN = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


async def _chat(session, base: str, key: str = CLIENT_KEY) -> int:
    async with session.post(
        f"{base}/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {key}"}
    ) as resp:
        await resp.read()
        return resp.status


async def test_key_added_through_the_api_works_at_once(fake, tmp_path):
    """PUT /api-keys persists the file and the new key serves inference within a second."""
    async with (
        run_proxy(tmp_path, compat_config(fake.base_url, ["k"])) as px,
        aiohttp.ClientSession() as session,
    ):
        new_key = "sk-added-through-management-api"
        assert await _chat(session, px.base_url, new_key) == 401
        async with session.put(
            f"{px.base_url}/v0/management/api-keys", json=[CLIENT_KEY, new_key], headers=ADMIN
        ) as resp:
            assert resp.status == 200, await resp.text()
        assert await eventually(lambda: _is(session, px.base_url, new_key, 200), limit=1.0)
        assert new_key in px.config_path.read_text()
        async with session.get(f"{px.base_url}/v0/management/config", headers=ADMIN) as resp:
            assert new_key in (await resp.json())["api-keys"]


async def _is(session, base, key, status) -> bool:
    return await _chat(session, base, key) == status


async def test_management_needs_its_key_and_inference_keys_do_not_work_there(fake, tmp_path):
    """A client key is not a management key; no key is 401."""
    async with (
        run_proxy(tmp_path, compat_config(fake.base_url, ["k"])) as px,
        aiohttp.ClientSession() as session,
    ):
        async with session.get(f"{px.base_url}/v0/management/config") as resp:
            assert resp.status == 401
        async with session.get(
            f"{px.base_url}/v0/management/config", headers={"Authorization": f"Bearer {CLIENT_KEY}"}
        ) as resp:
            assert resp.status == 401


async def test_reset_quota_brings_a_cooled_key_back(fake, tmp_path):
    """A key cooled for 30 minutes serves again right after POST /reset-quota."""
    fake.once(Reply(status=401), key="k")
    async with (
        run_proxy(tmp_path, compat_config(fake.base_url, ["k"])) as px,
        aiohttp.ClientSession() as session,
    ):
        assert await _chat(session, px.base_url) == 401
        assert await _chat(session, px.base_url) == 429  # cooling: model_cooldown
        async with session.get(f"{px.base_url}/v0/management/auth-files", headers=ADMIN) as resp:
            assert resp.status == 200
        async with session.post(
            f"{px.base_url}/v0/management/reset-quota", json={}, headers=ADMIN
        ) as resp:
            assert resp.status == 200, await resp.text()
        assert await _chat(session, px.base_url) == 200


async def test_usage_queue_pops_events_destructively(fake, tmp_path):
    """CLIProxyAPI's usage-queue pops the outbox's oldest events once."""
    async with (
        run_proxy(tmp_path, compat_config(fake.base_url, ["k"])) as px,
        aiohttp.ClientSession() as session,
    ):
        for _ in range(3):
            assert await _chat(session, px.base_url) == 200
        async with session.get(
            f"{px.base_url}/v0/management/usage-queue?count=2", headers=ADMIN
        ) as resp:
            first = await resp.json()
        async with session.get(
            f"{px.base_url}/v0/management/usage-queue?count=5", headers=ADMIN
        ) as resp:
            rest = await resp.json()
    assert [e["seq"] for e in first] == [1, 2]
    assert [e["seq"] for e in rest] == [3]
    assert all(e["model"] == "gpt-test" for e in first + rest)


async def test_failed_requests_leave_request_error_logs(fake, tmp_path):
    """A request that fails upstream leaves an error log the management API lists and serves."""
    fake.always(
        Reply(status=400, body={"error": {"message": "bad thing sk-leaky-secret-123456789"}})
    )
    async with (
        run_proxy(tmp_path, compat_config(fake.base_url, ["k"])) as px,
        aiohttp.ClientSession() as session,
    ):
        assert await _chat(session, px.base_url) == 400

        async def listed():
            async with session.get(
                f"{px.base_url}/v0/management/request-error-logs", headers=ADMIN
            ) as resp:
                return (await resp.json())["files"]

        files = await eventually(listed)
        async with session.get(
            f"{px.base_url}/v0/management/request-error-logs/{files[0]['name']}", headers=ADMIN
        ) as resp:
            text = await resp.text()
    assert "status: 400" in text and "gpt-test" in text
    assert "sk-leaky-secret-123456789" not in text
