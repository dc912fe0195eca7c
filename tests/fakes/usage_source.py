"""A fake proxy usage outbox speaking PROTOCOLS.md section 5, for collector tests.

    source = FakeUsageSource(instance_id="proxy-a")
    source.add_events(100)                     # realistic generated events, seq 1..100
    url = await source.start()                 # http://127.0.0.1:<port>
    ... run a collector against url with COLLECTOR_API_KEY = source.api_key ...
    source.down = True                         # every call answers 503 until reset
    source.fail_next(3)                        # the next 3 calls answer 503
    await source.stop()

`GET /v0/usage/events?after=&limit=` -> {"instance_id", "events", "next"} without deleting;
`POST /v0/usage/ack {"instance_id", "upto"}` -> {"acked"} drops events up to `upto`.
Both need `Authorization: Bearer <api_key>`.
"""

from __future__ import annotations

import asyncio
import bisect
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from aiohttp import web

PROVIDERS = {
    "openai": ("gpt-4o", "gpt-4o-mini"),
    "claude": ("claude-sonnet-4", "claude-haiku-4"),
    "gemini": ("gemini-2.5-pro",),
}


def make_event(
    seq: int,
    instance_id: str,
    rng: random.Random,
    /,
    *,
    at: datetime | None = None,
    api_key_ids: tuple[str, ...] = ("0123456789abcdef", "fedcba9876543210", ""),
    **overrides: object,
) -> dict[str, object]:
    """One realistic usage event as the proxy would write it."""
    provider = rng.choice(sorted(PROVIDERS))
    model = rng.choice(PROVIDERS[provider])
    failed = rng.random() < 0.05
    inp, out = rng.randint(1, 5000), 0 if failed else rng.randint(1, 2000)
    cached = rng.randint(0, inp // 2)
    ts = at or datetime.now(UTC) - timedelta(seconds=rng.randint(0, 3600))
    event: dict[str, object] = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "instance_id": instance_id,
        "seq": seq,
        "timestamp": ts.isoformat().replace("+00:00", "Z"),
        "request_id": f"req-{seq}",
        "api_key_id": rng.choice(api_key_ids),
        "provider": provider,
        "executor_type": provider,
        "auth_type": rng.choice(("api_key", "oauth")),
        "auth_index": f"{provider}-{rng.randint(1, 3)}",
        "source": "us***@example.com",
        "endpoint": "/v1/chat/completions",
        "model": model,
        "alias": model,
        "latency_ms": rng.randint(50, 90_000),
        "ttft_ms": rng.randint(20, 2_000),
        "stream": rng.random() < 0.5,
        "failed": failed,
        "status_code": 502 if failed else 200,
        "tokens": {
            "input_tokens": inp,
            "output_tokens": out,
            "reasoning_tokens": rng.randint(0, out // 4 + 1),
            "cached_tokens": cached,
            "cache_read_tokens": cached,
            "cache_creation_tokens": 0,
            "total_tokens": inp + out,
        },
        "reasoning_effort": None,
        "service_tier": None,
        "client_ip": "127.0.0.1",
        "user_agent": "pytest",
    }
    event.update(overrides)
    return event


@dataclass
class FakeUsageSource:
    """An in-memory outbox behind the real wire contract, able to fail on demand."""

    instance_id: str = "proxy-a"
    api_key: str = "collector-test-key-0123456789"
    seed: int = 7
    outbox: list[tuple[int, object]] = field(default_factory=list)  # (seq, raw event)
    history: list[object] = field(default_factory=list)  # every entry ever added
    acked: int = 0
    down: bool = False
    ack_delay: float = 0.0  # seconds each ack waits before answering (widens the crash window)
    served: Counter[int] = field(default_factory=Counter)  # seq -> times served
    requests: int = 0
    _failures_left: int = 0
    _rng: random.Random = field(init=False)
    _runner: web.AppRunner | None = None
    _last_seq: int = 0
    activity: asyncio.Event = field(default_factory=asyncio.Event)  # set on every request
    url: str = ""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    # -- content -----------------------------------------------------------------------------

    def add_events(self, count: int, **overrides: object) -> list[dict[str, object]]:
        """Append `count` generated events; `overrides` replace fields of every one."""
        events = []
        for _ in range(count):
            self._last_seq += 1
            event = make_event(self._last_seq, self.instance_id, self._rng, **overrides)
            self.outbox.append((self._last_seq, event))
            self.history.append(event)
            events.append(event)
        return events

    def add_raw(self, raw: object) -> int:
        """Append any JSON value as the next outbox entry (malformed events); return its seq."""
        self._last_seq += 1
        self.outbox.append((self._last_seq, raw))
        self.history.append(raw)
        return self._last_seq

    def fail_next(self, count: int) -> None:
        """The next `count` requests answer 503."""
        self._failures_left = count

    @property
    def pending(self) -> int:
        """Entries not yet acked."""
        return len(self.outbox) - bisect.bisect_right(self.outbox, self.acked, key=lambda e: e[0])

    @property
    def replays(self) -> int:
        """How many times an entry was served again (after a crash before its ack)."""
        return sum(n - 1 for n in self.served.values() if n > 1)

    # -- HTTP --------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v0/usage/events", self._events)
        app.router.add_post("/v0/usage/ack", self._ack)
        return app

    async def start(self, port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _refuse(self, request: web.Request) -> web.Response | None:
        self.requests += 1
        self.activity.set()
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": "unauthorized"}, status=401)
        if self.down or self._failures_left > 0:
            self._failures_left = max(self._failures_left - 1, 0)
            return web.json_response({"error": "unavailable"}, status=503)
        return None

    async def _events(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request):
            return refused
        after = int(request.query.get("after", "0"))
        limit = min(int(request.query.get("limit", "100")), 10_000)
        start = bisect.bisect_right(self.outbox, after, key=lambda entry: entry[0])
        page = self.outbox[start : start + limit]
        self.served.update(seq for seq, _ in page)
        nxt = page[-1][0] if page else after
        body = {"instance_id": self.instance_id, "events": [raw for _, raw in page], "next": nxt}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def _ack(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request):
            return refused
        body = await request.json()
        if body.get("instance_id") != self.instance_id:
            return web.json_response({"error": "unknown instance"}, status=409)
        if self.ack_delay:
            await asyncio.sleep(self.ack_delay)
        self.acked = max(self.acked, int(body["upto"]))
        del self.outbox[: bisect.bisect_right(self.outbox, self.acked, key=lambda e: e[0])]
        return web.json_response({"acked": self.acked})
