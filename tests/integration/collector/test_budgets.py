"""Budgets end to end: the collector prices what two replicas served, publishes the spend, and
both replicas refuse the key from then on; the refused request is stored as refused."""

from __future__ import annotations

import hashlib

import aiohttp

from tests.fakes.openai_upstream import FakeOpenAI, Reply
from tests.integration.collector.helpers import eventually
from tests.integration.proxy.harness import CLIENT_KEY, COLLECTOR_KEY, compat_config, run_proxy

HEADERS = {"Authorization": f"Bearer {CLIENT_KEY}"}
KEY_ID = hashlib.sha256(CLIENT_KEY.encode()).hexdigest()[:16]
BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}


async def _post(session: aiohttp.ClientSession, base: str) -> tuple[int, dict]:
    async with session.post(f"{base}/v1/chat/completions", json=BODY, headers=HEADERS) as resp:
        return resp.status, await resp.json()


async def _published_spend(session: aiohttp.ClientSession, base: str) -> float:
    auth = {"Authorization": f"Bearer {COLLECTOR_KEY}"}
    async with session.get(f"{base}/v0/usage/spend", params={"key": KEY_ID}, headers=auth) as r:
        return float((await r.json())["spend"]["day"])


async def test_a_budget_reached_on_one_replica_is_enforced_by_both(
    tmp_path, db_conn, start_collector
):
    # $1000 per million tokens: each request (10 in, 5 out) costs $0.015.
    await db_conn.execute(
        "INSERT INTO model_pricing (provider, model, input_per_mtok, output_per_mtok)"
        " VALUES ('fake', 'gpt-test', 1000, 1000)"
    )
    async with FakeOpenAI() as fake:
        fake.default = Reply(prompt_tokens=10, completion_tokens=5)
        config = compat_config(fake.base_url, ["k1"])
        config["api-key-limits"] = {CLIENT_KEY: {"daily-budget-usd": 0.02}}
        async with (
            run_proxy(tmp_path / "a", config) as one,
            run_proxy(tmp_path / "b", config) as two,
            aiohttp.ClientSession() as session,
        ):
            assert (await _post(session, one.base_url))[0] == 200
            assert (await _post(session, two.base_url))[0] == 200  # two does not know yet
            await start_collector(
                one.base_url, two.base_url, collector_api_key=COLLECTOR_KEY, spend_interval_s=0.1
            )

            async def published() -> bool:
                spent = [await _published_spend(session, p.base_url) for p in (one, two)]
                return all(s >= 0.03 - 1e-9 for s in spent)

            await eventually(published, what="the spend reached both replicas")
            refused = [await _post(session, p.base_url) for p in (one, two)]

            async def stored_refusals() -> bool:
                cur = await db_conn.execute(
                    "SELECT count(*) FROM usage_events WHERE refused = 'daily_budget'"
                    " AND status_code = 429 AND failed AND cost_usd = 0"
                )
                return (await cur.fetchone())[0] == 2

            await eventually(stored_refusals, what="the refused requests stored")
    assert [status for status, _ in refused] == [429, 429]
    assert {body["error"]["code"] for _, body in refused} == {"budget_exceeded"}
    assert len(fake.requests) == 2
