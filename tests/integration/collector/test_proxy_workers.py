"""A proxy with two worker processes (`workers: 2`) and the real collector on real Postgres.

Each worker has its own outbox (its own instance id); whichever worker the collector's
request lands on serves and acks any of them. Every request becomes exactly one row, also
across a killed and restarted worker, and every outbox is drained by the acks.
"""

from __future__ import annotations

import os
import signal

import aiohttp

from services.proxy.usage import segments
from services.proxy.usage.siblings import outbox_folders
from tests.fakes.openai_upstream import FakeOpenAI, Reply
from tests.integration.collector.helpers import eventually
from tests.integration.proxy.harness import CLIENT_KEY, COLLECTOR_KEY, compat_config, proxy_process
from tests.integration.proxy.http.test_workers import START_S, both_answer, two_workers

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


async def send(base_url: str, count: int) -> list[str]:
    """`count` requests, each on a new connection (so both workers get some); request ids."""
    ids = []
    connector = aiohttp.TCPConnector(force_close=True)
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    async with aiohttp.ClientSession(connector=connector) as session:
        for i in range(count):
            body = {**BODY, "stream": i % 2 == 0}
            async with session.post(
                f"{base_url}/v1/chat/completions", json=body, headers=headers
            ) as resp:
                assert resp.status == 200
                await resp.read()
                ids.append(resp.headers["X-Request-Id"])
    return ids


def undrained(usage_dir) -> dict[str, int]:
    """Events left (by seq) in each outbox folder that are not yet acked."""
    left = {}
    for instance_id, folder in outbox_folders(usage_dir).items():
        acked = segments.load_watermark(folder)
        views = segments.list_segments(folder)
        left[instance_id] = len(segments.read_events(views, acked, 100_000, None).lines)
    return left


async def test_every_workers_usage_is_stored_exactly_once(tmp_path, db_conn, start_collector):
    async with FakeOpenAI() as fake:
        fake.default = Reply(prompt_tokens=10, completion_tokens=5)
        config = compat_config(fake.base_url, ["k1"], workers=2)
        async with proxy_process(tmp_path, config, limit=START_S) as proxy:
            assert proxy.proc is not None
            parent = proxy.proc.pid
            await eventually(lambda: both_answer(proxy.base_url), within=START_S, what="workers")
            sent = await send(proxy.base_url, 30)
            collector = await start_collector(proxy.base_url, collector_api_key=COLLECTOR_KEY)
            victim = max(two_workers(parent) or {0})
            os.kill(victim, signal.SIGKILL)
            await eventually(
                lambda: two_workers(parent, victim), within=START_S, what="a new worker"
            )
            await eventually(lambda: both_answer(proxy.base_url), within=START_S, what="both")
            sent += await send(proxy.base_url, 30)

            async def stored() -> bool:
                cur = await db_conn.execute("SELECT count(*) FROM usage_events")
                return (await cur.fetchone())[0] >= len(sent)

            await eventually(stored, within=60, what="every request stored")
            await eventually(
                lambda: set(undrained(tmp_path / "usage").values()) == {0},
                within=30,
                what="every outbox acked",
            )
            # One feed per outbox, kept across rounds (not one new feed per round).
            feeds = collector.current_feeds()
            assert sorted(str(f.instance) for f in feeds) == sorted(
                outbox_folders(tmp_path / "usage")
            )
            assert collector.current_feeds() == feeds
    rows = await (
        await db_conn.execute("SELECT request_id, instance_id FROM usage_events")
    ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(sent)
    assert len({r[1] for r in rows}) == 2, "both workers' outboxes were collected"
    cursors = await (await db_conn.execute("SELECT count(*) FROM collector_cursors")).fetchone()
    assert cursors[0] == 2
