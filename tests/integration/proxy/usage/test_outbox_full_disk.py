"""The outbox on a disk that fills up: drops are loud, an ack frees space, recording resumes.

Through the real proxy process, with its usage folder on a 64 KiB tmpfs (the kernel's ENOSPC,
not a simulation), and the collector's own protocol: pull pages, then ack.
"""

from __future__ import annotations

import re

import aiohttp

from tests.fakes.openai_upstream import FakeOpenAI
from tests.integration.proxy.harness import CLIENT_KEY, COLLECTOR_KEY, compat_config, proxy_process

CLIENT = {"Authorization": f"Bearer {CLIENT_KEY}"}
COLLECTOR = {"Authorization": f"Bearer {COLLECTOR_KEY}"}
BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
MAX_REQUESTS = 2000  # 64 KiB holds about a hundred events: far fewer are needed to fill it


async def _infer(session: aiohttp.ClientSession, base: str) -> None:
    async with session.post(f"{base}/v1/chat/completions", json=BODY, headers=CLIENT) as resp:
        assert resp.status == 200
        await resp.read()


async def _health(session: aiohttp.ClientSession, base: str) -> dict:
    async with session.get(f"{base}/healthz") as resp:
        assert resp.status == 200
        return await resp.json()


async def _gauge(session: aiohttp.ClientSession, base: str, name: str) -> float:
    async with session.get(f"{base}/metrics") as resp:
        text = await resp.text()
    match = re.search(rf"^proxy_{name} (\S+)$", text, re.M)
    assert match, name
    return float(match.group(1))


async def _pull_all(session: aiohttp.ClientSession, base: str, after: int) -> tuple[list, str]:
    """Every event after `after`, page by page, as the collector reads them."""
    events: list[dict] = []
    instance = ""
    while True:
        async with session.get(
            f"{base}/v0/usage/events", params={"after": after, "limit": 50}, headers=COLLECTOR
        ) as resp:
            assert resp.status == 200
            page = await resp.json()
        instance = page["instance_id"]
        if not page["events"]:
            return events, instance
        events += page["events"]
        after = page["next"]


async def _ack(session: aiohttp.ClientSession, base: str, instance: str, upto: int) -> None:
    body = {"instance_id": instance, "upto": upto}
    async with session.post(f"{base}/v0/usage/ack", json=body, headers=COLLECTOR) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["acked"] == upto


async def test_full_disk_drops_loudly_and_an_ack_lets_recording_resume(tmp_path, small_tmpfs):
    usage_dir = small_tmpfs("64k")
    async with FakeOpenAI() as fake:
        config = compat_config(fake.base_url, ["up-key"], **{"usage-dir": str(usage_dir)})
        async with proxy_process(tmp_path, config) as proc, aiohttp.ClientSession() as session:
            base = proc.base_url
            sent = 0
            while sent < MAX_REQUESTS and "usage_outbox" not in await _health(session, base):
                await _infer(session, base)
                sent += 1
            assert (await _health(session, base))["usage_outbox"] == "dropping"
            assert await _gauge(session, base, "usage_outbox_dropping") == 1
            for _ in range(5):  # a few more while full: each one is dropped and counted
                await _infer(session, base)
                sent += 1
            dropped = await _gauge(session, base, "usage_events_dropped_total")
            assert dropped >= 6

            recorded, instance = await _pull_all(session, base, 0)
            seqs = [event["seq"] for event in recorded]
            assert seqs == list(range(1, len(seqs) + 1))  # nothing recorded was lost
            assert len(recorded) + dropped == sent
            await _ack(session, base, instance, seqs[-1])

            for _ in range(3):  # recording resumes by itself: no restart, no operator
                await _infer(session, base)
            assert "usage_outbox" not in await _health(session, base)
            assert await _gauge(session, base, "usage_outbox_dropping") == 0
            assert await _gauge(session, base, "usage_events_dropped_total") == dropped
            later, _ = await _pull_all(session, base, seqs[-1])
            assert [event["seq"] for event in later] == [len(seqs) + 1 + i for i in range(3)]
            await _ack(session, base, instance, later[-1]["seq"])
    logs = proc.logs()
    assert "Traceback" not in logs
    # The ack found no room for a new watermark file and rewrote the old one in place.
    assert "usage_outbox_watermark_in_place" in logs
