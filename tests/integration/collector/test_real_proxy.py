"""End to end: requests through a real proxy become exactly one row each, with correct rollups."""

from __future__ import annotations

import hashlib

import aiohttp

from services.proxy.http.app_objects import OUTBOX
from tests.fakes.openai_upstream import FakeOpenAI, Reply
from tests.integration.collector.helpers import ALL_MATCH, eventually, rollup_mismatches
from tests.integration.proxy.harness import CLIENT_KEY, COLLECTOR_KEY, compat_config, run_proxy

N = 24


async def test_proxy_requests_are_stored_once_with_owner_and_rollups(
    tmp_path, db_conn, start_collector
):
    """N requests (stream or not, one failing over) give N+1 attempt rows owned by the user."""
    digest = hashlib.sha256(CLIENT_KEY.encode()).hexdigest()
    cur = await db_conn.execute(
        "INSERT INTO users (username, password_hash, role)"
        " VALUES ('alice', 'x', 'user') RETURNING id"
    )
    user_id = (await cur.fetchone())[0]
    await db_conn.execute(
        "INSERT INTO user_api_keys (user_id, name, key_sha256, display_prefix)"
        " VALUES (%s, 'cli', %s, 'sk-test')",
        (user_id, digest),
    )
    async with FakeOpenAI() as fake:
        fake.default = Reply(prompt_tokens=10, completion_tokens=5)
        fake.once(Reply(status=503), key="k1")
        config = compat_config(fake.base_url, ["k1", "k2"], routing={"strategy": "fill-first"})
        async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
            for i in range(N):
                body = {
                    "model": "gpt-test",
                    "messages": [{"role": "user", "content": "hi"}],
                    "stream": i % 3 == 0,
                }
                async with session.post(
                    f"{px.base_url}/v1/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                ) as resp:
                    assert resp.status == 200
                    await resp.read()
            await start_collector(px.base_url, collector_api_key=COLLECTOR_KEY)

            async def stored() -> bool:
                row = await (await db_conn.execute("SELECT count(*) FROM usage_events")).fetchone()
                return row[0] == N + 1

            await eventually(stored, what="every attempt stored")
            await eventually(lambda: px.app[OUTBOX].depth_events == 0, what="the proxy acked")
    rows = await (
        await db_conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE failed), sum(input_tokens),"
            " sum(output_tokens), count(DISTINCT user_id), min(user_id) FROM usage_events"
        )
    ).fetchone()
    assert rows == (N + 1, 1, N * 10, N * 5, 1, user_id)
    assert await rollup_mismatches(db_conn) == ALL_MATCH
