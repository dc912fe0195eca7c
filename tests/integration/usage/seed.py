"""Usage test data: users with client keys and realistic events stored through the collector's
own insert (`usage_events.record`), so costs and rollups are exactly what production writes."""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from services.collector.usage_events import (
    TEXT_COLUMNS,
    NewEvent,
    ensure_partitions,
    record,
)
from services.core.db import connect

# provider -> models; gpt-5 under "codex" only finds OpenAI's price by the model-only rule,
# the dated Claude name by its base name, and mystery-model has no price at all.
MODELS = {
    "claude": ("claude-sonnet-4-5-20250929", "claude-opus-5-5"),
    "openai": ("gpt-5.4", "mystery-model"),
    "gemini": ("gemini-2.5-pro",),
    "codex": ("gpt-5",),
}


def key_id_for(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def add_keys(dsn: str, user_id: int, names: list[str]) -> list[str]:
    """Client keys for a user whose key ids are key_id_for(name); returns the ids."""
    ids = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in names:
            key_id = key_id_for(name)
            digest = key_id + hashlib.sha256(name.encode()).hexdigest()[16:]
            conn.execute(
                "INSERT INTO user_api_keys (user_id, name, key_sha256, display_prefix)"
                " VALUES (%s, %s, %s, 'sk-test')",
                (user_id, name, digest),
            )
            ids.append(key_id)
    return ids


@dataclass
class EventSpec:
    """Knobs for `make_event`; defaults give a random realistic event."""

    at: datetime
    api_key_id: str = ""
    provider: str | None = None
    model: str | None = None
    tokens: tuple[int, int, int, int, int, int, int] | None = None
    failed: bool | None = None
    extra: dict[str, object] = field(default_factory=dict)


def make_event(rng: random.Random, seq: int, spec: EventSpec) -> NewEvent:
    provider = spec.provider or rng.choice(sorted(MODELS))
    model = spec.model or rng.choice(MODELS[provider])
    failed = rng.random() < 0.06 if spec.failed is None else spec.failed
    if spec.tokens is not None:
        tokens = spec.tokens
    else:
        inp = rng.randint(100, 5000)
        cached = rng.randint(0, inp // 2)
        creation = rng.randint(0, inp // 4) if provider == "claude" else 0
        out = 0 if failed else rng.randint(1, 2000)
        reasoning = rng.randint(0, out // 3)
        tokens = (inp, out, reasoning, cached, cached, creation, inp + out)
    text = {
        "request_id": f"req-{seq}",
        "provider": provider,
        "executor_type": provider,
        "auth_type": "api_key",
        "auth_index": f"{provider}-{rng.randint(1, 3)}",
        "source": "te***@example.com",
        "endpoint": "/v1/chat/completions",
        "model": model,
        "alias": model,
        "reasoning_effort": None,
        "service_tier": None,
        "client_ip": "203.0.113.7",
        "user_agent": "=cmd|' /C calc'!A0" if seq % 97 == 0 else "pytest",
        **spec.extra,
    }
    return NewEvent(
        event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        ts=spec.at,
        instance_id="seed",
        seq=seq,
        api_key_id=spec.api_key_id,
        latency_ms=rng.randint(40, 70_000),
        ttft_ms=rng.randint(20, 3_000),
        stream=rng.random() < 0.5,
        failed=failed,
        status_code=502 if failed else 200,
        tokens=tokens,
        text=tuple(text.get(name) for name in TEXT_COLUMNS),
    )


def random_events(
    rng: random.Random, count: int, key_ids: list[str], now: datetime, days: int = 35
) -> list[NewEvent]:
    """`count` events spread over the last `days` days across the given keys."""
    span = int(timedelta(days=days).total_seconds())
    events = []
    for seq in range(1, count + 1):
        at = (now - timedelta(seconds=rng.randint(0, span))).replace(microsecond=0)
        events.append(
            make_event(rng, seq, EventSpec(at=at.astimezone(UTC), api_key_id=rng.choice(key_ids)))
        )
    return events


async def store_async(dsn: str, events: list[NewEvent]) -> int:
    async with await connect(dsn, autocommit=True) as conn:
        await ensure_partitions(conn, [e.ts for e in events])
        async with conn.transaction():
            result = await record(conn, events)
    return result.inserted


def store(dsn: str, events: list[NewEvent]) -> int:
    """Insert events the way the collector does (cost, owners, rollups); returns new rows."""
    return asyncio.run(store_async(dsn, events))
