"""`workers: 2`: a real `python -m services.proxy` parent with two worker processes on one port.

Both workers answer (each writes its own outbox), a killed worker is replaced by the parent,
SIGTERM drains both, and a key added through the management API (served by one worker) works
on every worker within a second.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from services.proxy.usage.siblings import outbox_folders
from tests.fakes.openai_upstream import Reply

from ..harness import CLIENT_KEY, MANAGEMENT_KEY, compat_config, eventually, proxy_process
from .test_graceful_stop import Traffic, _events, _wait_exit

START_S = 90  # two interpreters importing the proxy at once on 2 busy shared cores
BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


def worker_pids(parent: int) -> set[int]:
    """The parent's live children, from /proc."""
    raw = Path(f"/proc/{parent}/task/{parent}/children").read_text()
    return {int(pid) for pid in raw.split()}


def two_workers(parent: int, without: int = 0) -> set[int] | None:
    """The two worker pids once both run (and `without` is gone), else None."""
    pids = worker_pids(parent)
    return pids if len(pids) == 2 and without not in pids else None


async def answered_by(base_url: str, key: str, connections: int) -> list[tuple[int, str]]:
    """(status, worker) of one request on each of `connections` new connections, at once; the
    worker is asked on the same connection (/healthz) right after the request."""

    async def one() -> tuple[int, str]:
        connector = aiohttp.TCPConnector(limit=1)  # both requests on one connection
        async with aiohttp.ClientSession(connector=connector) as session:
            headers = {"Authorization": f"Bearer {key}"}
            async with session.post(
                f"{base_url}/v1/chat/completions", json=BODY, headers=headers
            ) as resp:
                await resp.read()
            async with session.get(f"{base_url}/healthz") as health:
                return resp.status, (await health.json())["worker"]

    return list(await asyncio.gather(*(one() for _ in range(connections))))


async def healthz_workers(base_url: str, tries: int) -> set[str]:
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        seen = set()
        for _ in range(tries):
            try:
                async with session.get(f"{base_url}/healthz") as resp:
                    seen.add((await resp.json())["worker"])
            except aiohttp.ClientConnectionError:
                # A worker that just died takes the connections queued on its socket with it.
                seen.add("refused")
        return seen


async def both_answer(base_url: str) -> bool:
    return await healthz_workers(base_url, 20) == {"0", "1"}


async def test_two_workers_both_serve_and_write_their_own_outbox(fake, tmp_path):
    config = compat_config(fake.base_url, ["up-key"], workers=2)
    async with proxy_process(tmp_path, config, limit=START_S) as proxy:
        assert proxy.proc is not None
        await eventually(lambda: len(worker_pids(proxy.proc.pid)) == 2, limit=START_S)
        await eventually(lambda: both_answer(proxy.base_url), limit=START_S)
        statuses = [status for status, _ in await answered_by(proxy.base_url, CLIENT_KEY, 40)]
        assert statuses == [200] * 40
        proxy.stop()
        assert proxy.proc.returncode == 0, proxy.logs()[-2000:]
    folders = outbox_folders(tmp_path / "usage")
    assert sorted(p.name for p in folders.values()) == ["usage", "worker-1"]
    counts = [len(await _events(folder)) for folder in folders.values()]
    assert sum(counts) == 40 and min(counts) > 0, counts


async def test_a_killed_worker_is_restarted(fake, tmp_path):
    config = compat_config(fake.base_url, ["up-key"], workers=2)
    async with proxy_process(tmp_path, config, limit=START_S) as proxy:
        assert proxy.proc is not None
        parent = proxy.proc.pid
        before = await eventually(lambda: two_workers(parent), limit=START_S)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        after = await eventually(lambda: two_workers(parent, victim), limit=START_S)
        assert len(after & before) == 1
        await eventually(lambda: both_answer(proxy.base_url), limit=START_S)
        results = await answered_by(proxy.base_url, CLIENT_KEY, 20)
        assert {status for status, _ in results} == {200}
        assert "proxy_worker_exited" in proxy.logs()


async def test_sigterm_drains_every_worker(fake, tmp_path):
    """Streams in flight on both workers at SIGTERM finish; the parent exits 0 after both."""
    chunks = ["one ", "two ", "three ", "four ", "five ", "six"]
    fake.default = Reply(chunks=chunks, chunk_delay=0.2, text="".join(chunks))
    config = compat_config(fake.base_url, ["up-key"], workers=2)
    async with proxy_process(tmp_path, config, {"PROXY_SHUTDOWN_GRACE": "15"}, START_S) as proxy:
        assert proxy.proc is not None
        pids = await eventually(lambda: two_workers(proxy.proc.pid), limit=START_S)
        await eventually(lambda: both_answer(proxy.base_url), limit=START_S)
        traffic = Traffic(proxy.base_url)
        clients = [
            asyncio.create_task(traffic.worker(stream=True, keep_alive=False)) for _ in range(8)
        ]
        await eventually(lambda: len(traffic.outcomes) >= 16, limit=30)
        proxy.proc.send_signal(signal.SIGTERM)
        await _wait_exit(proxy.proc, 20)
        await asyncio.wait_for(asyncio.gather(*clients), 20)
        assert proxy.proc.returncode == 0, proxy.logs()[-2000:]
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    answered = [o for o in traffic.outcomes if o.status is not None]
    assert answered and all(o.status == 200 and o.complete for o in answered)
    events = [
        e for folder in outbox_folders(tmp_path / "usage").values() for e in await _events(folder)
    ]
    assert sorted(str(e["request_id"]) for e in events) == sorted(
        str(o.request_id) for o in answered
    )


async def test_a_key_added_through_one_worker_works_on_every_worker_within_a_second(fake, tmp_path):
    config = compat_config(fake.base_url, ["up-key"], workers=2)
    new_key = "sk-added-through-management-0123"
    async with proxy_process(tmp_path, config, limit=START_S) as proxy:
        await eventually(lambda: both_answer(proxy.base_url), limit=START_S)
        headers = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
        async with aiohttp.ClientSession() as session:
            async with session.put(
                f"{proxy.base_url}/v0/management/api-keys",
                data=orjson.dumps([CLIENT_KEY, new_key]),
                headers=headers,
            ) as resp:
                assert resp.status == 200, await resp.text()

        async def everywhere() -> bool:
            results = await answered_by(proxy.base_url, new_key, 12)
            return {status for status, _ in results} == {200} and len({w for _, w in results}) == 2

        await eventually(everywhere, limit=1.0, interval=0.05)


async def cooling_per_worker(base_url: str) -> dict[str, float]:
    """worker -> its `proxy_cooldowns_active`, from one scrape (every worker's series)."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base_url}/metrics") as resp:
            text = await resp.text()
    return {
        sample.labels["worker"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "proxy_cooldowns_active"
    }


async def test_a_cooldown_one_worker_records_is_honoured_by_both(fake, tmp_path):
    """k1 answers 429 (Retry-After 60): after the one request that found out, neither worker
    sends k1 another request."""
    fake.always(Reply(status=429, headers={"Retry-After": "60"}), key="k1")
    config = compat_config(
        fake.base_url, ["k1", "k2"], workers=2, routing={"strategy": "fill-first"}
    )
    config["request-retry"] = 1
    async with proxy_process(tmp_path, config, limit=START_S) as proxy:
        await eventually(lambda: both_answer(proxy.base_url), limit=START_S)
        assert {status for status, _ in await answered_by(proxy.base_url, CLIENT_KEY, 1)} == {200}
        assert [r.api_key for r in fake.requests] == ["k1", "k2"]

        async def both_cooling() -> bool:
            seen = await cooling_per_worker(proxy.base_url)
            return set(seen) == {"0", "1"} and min(seen.values()) >= 1

        await eventually(both_cooling, limit=10)
        results = await answered_by(proxy.base_url, CLIENT_KEY, 20)
        assert {status for status, _ in results} == {200}
        assert len({worker for _, worker in results}) == 2
    assert [r.api_key for r in fake.requests].count("k1") == 1


def chat_requests(exposition: str) -> dict[str, float]:
    """worker -> proxy_requests_total of the chat route with status 200, from one scrape."""
    found = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "proxy_requests_total"
                and labels.get("status") == "200"
                and "chat" in labels.get("route", "")
            ):
                found[labels["worker"]] = sample.value
    return found


async def test_one_scrape_shows_every_workers_counters(fake, tmp_path):
    config = compat_config(fake.base_url, ["up-key"], workers=2)
    async with proxy_process(tmp_path, config, limit=START_S) as proxy:
        await eventually(lambda: both_answer(proxy.base_url), limit=START_S)
        results = await answered_by(proxy.base_url, CLIENT_KEY, 30)
        served = {w: sum(1 for _, x in results if x == w) for w in ("0", "1")}
        assert min(served.values()) > 0

        async def scrape() -> dict[str, float] | None:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{proxy.base_url}/metrics") as resp:
                    counts = chat_requests(await resp.text())
            return counts if counts == {w: float(n) for w, n in served.items()} else None

        await eventually(scrape, limit=10)
