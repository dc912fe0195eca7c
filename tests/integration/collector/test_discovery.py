"""The collector finds the proxy replicas by DNS (PROXY_URL=dns+http://NAME:PORT).

Real proxy processes listen on the same port at 127.0.0.1, 127.0.0.2 and 127.0.0.3 (all of
127/8 is loopback on Linux); the only seam is the DNS answer, a resolver mapping the test's
name to the addresses it should return now.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from services.collector.worker import Collector
from tests.conftest import free_port
from tests.fakes.openai_upstream import FakeOpenAI, Reply
from tests.integration.collector.helpers import eventually, settings_for
from tests.integration.proxy.harness import (
    CLIENT_KEY,
    COLLECTOR_KEY,
    MANAGEMENT_KEY,
    compat_config,
    spawn_logged,
    wait_healthy,
    write_config,
)

NAME = "proxies.test"


class Dns:
    """The test's DNS: `NAME` resolves to whatever `addresses` holds now."""

    def __init__(self) -> None:
        self.addresses: list[str] = []

    async def __call__(self, name: str, port: int) -> list[str]:
        return list(self.addresses) if name == NAME else []


class Replica:
    """`python -m services.proxy` bound to one loopback address, its state in `folder`."""

    def __init__(self, folder: Path, address: str, port: int, upstream: str) -> None:
        self.folder, self.address, self.port = folder, address, port
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "config.yaml"
        write_config(self.config, {**compat_config(upstream, ["k1"]), "port": port})
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    async def start(self, address: str | None = None) -> None:
        """Start (again), at `address` if given: the same folder, so the same outbox."""
        self.address = address or self.address
        config = json.loads(self.config.read_text())
        write_config(self.config, {**config, "host": self.address})
        env = {
            **os.environ,
            "MANAGEMENT_API_KEY": MANAGEMENT_KEY,
            "COLLECTOR_API_KEY": COLLECTOR_KEY,
        }
        argv = [sys.executable, "-m", "services.proxy", "--config", str(self.config)]
        self.proc = spawn_logged(argv, env, self.folder / "proxy.log")
        await wait_healthy(self.url, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)

    async def chat(self, session: aiohttp.ClientSession, n: int) -> None:
        body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
        for _ in range(n):
            async with session.post(
                f"{self.url}/v1/chat/completions", json=body, headers=headers
            ) as resp:
                assert resp.status == 200, await resp.text()

    async def outbox(self, session: aiohttp.ClientSession) -> dict[str, object]:
        headers = {"Authorization": f"Bearer {COLLECTOR_KEY}"}
        async with session.get(f"{self.url}/v0/usage/events?after=0&limit=1000",
                               headers=headers) as resp:  # fmt: skip
            return await resp.json()


@pytest.fixture
async def upstream() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        fake.default = Reply(prompt_tokens=3, completion_tokens=2)
        yield fake


@pytest.fixture
async def replicas(tmp_path: Path, upstream: FakeOpenAI) -> AsyncIterator[list[Replica]]:
    """Two replicas on one port at 127.0.0.1 and 127.0.0.2 (a third address is free too)."""
    port = free_port()
    made = [Replica(tmp_path / f"r{i}", f"127.0.0.{i}", port, upstream.base_url) for i in (1, 2)]
    await asyncio.gather(*(r.start() for r in made))
    yield made
    for replica in made:
        replica.stop()


@contextlib.asynccontextmanager
async def collector_for(database_url: str, port: int, dns: Dns) -> AsyncIterator[Collector]:
    settings = settings_for(
        database_url,
        f"dns+http://{NAME}:{port}",
        collector_api_key=COLLECTOR_KEY,
        discovery_interval_s=0.05,
    )
    collector = Collector(settings, resolver=dns)
    task = asyncio.create_task(collector.run())
    try:
        yield collector
    finally:
        collector.stop()
        await asyncio.wait_for(task, 15)


async def stored_is(db_conn, n: int) -> bool:
    """Exactly `n` usage rows, all distinct events."""
    cur = await db_conn.execute("SELECT count(*), count(DISTINCT event_id) FROM usage_events")
    return await cur.fetchone() == (n, n)


async def events_per_replica(db_conn) -> dict[str, int]:
    cur = await db_conn.execute("SELECT proxy_url, events_stored FROM collector_cursors")
    return dict(await cur.fetchall())


async def test_usage_of_every_discovered_replica_is_stored_once(database_url, db_conn, replicas):
    one, two = replicas
    dns = Dns()
    dns.addresses = ["127.0.0.1", "127.0.0.2"]
    async with aiohttp.ClientSession() as session:
        await one.chat(session, 5)
        await two.chat(session, 7)
        async with collector_for(database_url, one.port, dns) as collector:
            await eventually(lambda: stored_is(db_conn, 12), what="both replicas' usage")
            assert set(collector.status.proxies) == {one.url, two.url}
            await one.chat(session, 2)
            await eventually(lambda: stored_is(db_conn, 14), what="later usage of one replica")
    assert await events_per_replica(db_conn) == {one.url: 7, two.url: 7}


async def test_a_replica_that_moves_to_another_address_keeps_its_cursor(
    database_url, db_conn, replicas
):
    """Gone from DNS, then back at 127.0.0.3 with the same outbox: its events are stored once,
    including those written while nobody polled it, and it keeps one cursor row."""
    one, two = replicas
    dns = Dns()
    dns.addresses = ["127.0.0.1", "127.0.0.2"]
    async with aiohttp.ClientSession() as session:
        await two.chat(session, 4)
        async with collector_for(database_url, one.port, dns) as collector:
            await eventually(lambda: stored_is(db_conn, 4), what="first events stored")
            instance = (await two.outbox(session))["instance_id"]

            dns.addresses = ["127.0.0.1"]  # the replica leaves the service's DNS
            await collector.replicas.wait_for(lambda urls: two.url not in urls)
            await eventually(lambda: two.url not in collector.status.proxies, what="dropped")
            await two.chat(session, 3)  # written while nobody polls it
            old_url = two.url
            two.stop()
            assert await stored_is(db_conn, 4)

            await two.start("127.0.0.3")  # rescheduled elsewhere with its volume
            assert (await two.outbox(session))["instance_id"] == instance
            dns.addresses = ["127.0.0.1", "127.0.0.3"]
            await collector.replicas.wait_for(lambda urls: two.url in urls)
            await eventually(lambda: stored_is(db_conn, 7), what="events written meanwhile")
            await two.chat(session, 2)
            await eventually(lambda: stored_is(db_conn, 9), what="new events at the new address")
            duplicates = collector.metrics.duplicates.labels(two.url)._value.get()
            assert old_url not in collector.status.proxies
    assert duplicates == 0  # the first page at the new address was re-read from the cursor
    cur = await db_conn.execute(
        "SELECT proxy_url, events_stored FROM collector_cursors WHERE instance_id = %s",
        (instance,),
    )
    assert await cur.fetchall() == [(two.url, 9)]  # one cursor, moved to the new address
