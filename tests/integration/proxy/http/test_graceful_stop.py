"""SIGTERM (what `docker stop`, `manage.sh restart` and rolling updates send) to a proxy process
under steady traffic: it stops accepting, lets what is in flight finish within its grace
period, cuts only what outlives the grace, and leaves exactly one usage event in its outbox
for each request it answered.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

from services.proxy.usage import Outbox
from tests.fakes.openai_upstream import Reply

from ..harness import CLIENT_KEY, compat_config, eventually, proxy_process

HEADERS = {"Authorization": f"Bearer {CLIENT_KEY}"}
CHUNKS = ["one ", "two ", "three ", "four ", "five ", "six"]


@dataclass
class Outcome:
    started: float
    ended: float
    status: int | None = None  # None: no answer at all
    request_id: str | None = None
    complete: bool = False  # the whole answer arrived (a stream ended with [DONE])
    error: str | None = None
    refused: bool = False  # the connection was never accepted


@dataclass
class Traffic:
    """Clients sending requests back to back until the proxy refuses them."""

    url: str
    outcomes: list[Outcome] = field(default_factory=list)
    refused: asyncio.Event = field(default_factory=asyncio.Event)

    async def worker(self, stream: bool, keep_alive: bool) -> None:
        connector = aiohttp.TCPConnector(force_close=not keep_alive)
        async with aiohttp.ClientSession(connector=connector) as session:
            while not self.refused.is_set():
                self.outcomes.append(await self.one(session, stream))

    async def one(self, session: aiohttp.ClientSession, stream: bool) -> Outcome:
        body = {
            "model": "gpt-test",
            "stream": stream,
            "messages": [{"role": "user", "content": "hi"}],
        }
        outcome = Outcome(started=time.monotonic(), ended=0.0)
        try:
            async with session.post(
                f"{self.url}/v1/chat/completions", json=body, headers=HEADERS
            ) as resp:
                outcome.status, outcome.request_id = resp.status, resp.headers.get("X-Request-Id")
                raw = await resp.read()
                outcome.complete = raw.rstrip().endswith(b"[DONE]") if stream else b"six" in raw
        except aiohttp.ClientConnectorError as exc:
            outcome.refused, outcome.error = True, repr(exc)
            self.refused.set()
        except aiohttp.ClientError as exc:
            outcome.error = repr(exc)
        outcome.ended = time.monotonic()
        return outcome


async def _events(usage_dir: Path) -> list[dict[str, object]]:
    """Every event left in the outbox the stopped proxy wrote."""
    box = Outbox(usage_dir, soft_cap_bytes=1 << 30)
    await box.start()
    try:
        lines, _ = await box.read(0, 100_000)
    finally:
        await box.close()
    return [orjson.loads(line) for line in lines]


async def _wait_exit(proc, limit: float) -> float:
    """Seconds until the process exited (polling: a child process gives no awaitable)."""
    started = time.monotonic()
    while proc.poll() is None:
        assert time.monotonic() - started < limit, "the proxy did not exit"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_sigterm_under_traffic_loses_no_accepted_request(fake, tmp_path):
    """Requests and streams in flight at SIGTERM finish with 200; new connections are refused;
    the outbox holds exactly one event per answered request, matched by request id."""
    fake.default = Reply(chunks=CHUNKS, chunk_delay=0.2, text="".join(CHUNKS))
    config = compat_config(fake.base_url, ["up-key"])
    async with proxy_process(tmp_path, config, {"PROXY_SHUTDOWN_GRACE": "15"}) as proxy:
        traffic = Traffic(proxy.base_url)
        workers = [
            asyncio.create_task(traffic.worker(stream=i % 2 == 0, keep_alive=i % 3 != 0))
            for i in range(8)
        ]
        await eventually(lambda: len(traffic.outcomes) >= 16, limit=30)  # steady traffic first
        assert proxy.proc is not None
        proxy.proc.send_signal(signal.SIGTERM)
        sent_at = time.monotonic()
        exit_after = await _wait_exit(proxy.proc, 20)
        await asyncio.wait_for(asyncio.gather(*workers), 20)
        assert proxy.proc.returncode == 0, proxy.logs()[-2000:]
        logs = proxy.logs()

    answered = [o for o in traffic.outcomes if o.status is not None]
    in_flight = [o for o in answered if o.started < sent_at < o.ended]
    assert len(in_flight) >= 4, "the signal should land while requests run"
    assert all(o.status == 200 and o.complete for o in answered), [
        o for o in answered if o.status != 200 or not o.complete
    ]
    unanswered = [o for o in traffic.outcomes if o.status is None]
    assert all(o.ended >= sent_at for o in unanswered)  # failures only once it stopped
    assert exit_after < 5  # the answers take about 1.2 s; it exits when they are done
    events = await _events(tmp_path / "usage")
    ids = [str(e["request_id"]) for e in events]
    assert sorted(ids) == sorted(str(o.request_id) for o in answered)
    assert not [e for e in events if e["failed"]]
    assert '"proxy_stopping"' in logs and '"proxy_stopped"' in logs


async def test_a_stream_longer_than_the_grace_is_cut_when_the_grace_ends(fake, tmp_path):
    """PROXY_SHUTDOWN_GRACE bounds the stop: a stream still running then is cut, recorded as a
    failed attempt (499), and the outbox is flushed before the process exits."""
    fake.default = Reply(chunks=CHUNKS, chunk_delay=2.0)
    config = compat_config(fake.base_url, ["up-key"])
    async with proxy_process(tmp_path, config, {"PROXY_SHUTDOWN_GRACE": "1"}) as proxy:
        traffic = Traffic(proxy.base_url)
        async with aiohttp.ClientSession() as session:
            request = asyncio.create_task(traffic.one(session, stream=True))
            await eventually(lambda: fake.requests, limit=10)
            assert proxy.proc is not None
            proxy.proc.send_signal(signal.SIGTERM)
            exit_after = await _wait_exit(proxy.proc, 15)
            outcome = await asyncio.wait_for(request, 10)
        assert proxy.proc.returncode == 0
    assert 0.8 < exit_after < 4, exit_after  # the stream alone would take 10 s
    assert outcome.status == 200 and not outcome.complete
    (event,) = await _events(tmp_path / "usage")
    assert event["request_id"] == outcome.request_id
    assert (event["failed"], event["status_code"]) == (True, 499)
