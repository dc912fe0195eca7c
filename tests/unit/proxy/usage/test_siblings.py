"""Worker outboxes served by any worker: reads from another worker's files, acks through its
`ack-request` file, and the single-process answer left exactly as it was."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from services.proxy.usage import Outbox, usage_routes
from services.proxy.usage.siblings import (
    AckInbox,
    SiblingOutboxes,
    read_ack_request,
    record_ack_request,
)
from services.proxy.workers import WorkerSlot

KEY = "collector-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def boxes(tmp_path: Path):
    base = tmp_path / "usage"
    first = Outbox(WorkerSlot(0, 2).usage_dir(base), soft_cap_bytes=1 << 20)
    second = Outbox(WorkerSlot(1, 2).usage_dir(base), soft_cap_bytes=1 << 20)
    await first.start()
    await second.start()
    yield first, second
    await first.close()
    await second.close()


@pytest.fixture
async def client(aiohttp_client, boxes):
    """The routes as worker 0 serves them."""
    first, _second = boxes
    app = web.Application()
    app.add_routes(usage_routes(first, lambda: [KEY], SiblingOutboxes(first.directory, first)))
    return await aiohttp_client(app)


def _fill(outbox: Outbox, count: int, tag: str) -> None:
    for i in range(count):
        outbox.append({"request_id": f"{tag}{i}"})


async def test_any_worker_serves_another_workers_outbox(client, boxes):
    first, second = boxes
    _fill(first, 2, "a")
    _fill(second, 3, "b")
    resp = await client.get(f"/v0/usage/events?instance={second.instance_id}", headers=AUTH)
    body = await resp.json()
    assert body["instance_id"] == second.instance_id
    assert [e["request_id"] for e in body["events"]] == ["b0", "b1", "b2"]
    assert body["next"] == 3
    assert body["instances"] == [first.instance_id, second.instance_id]
    resp = await client.get(f"/v0/usage/events?instance={second.instance_id}&after=2", headers=AUTH)
    assert [e["request_id"] for e in (await resp.json())["events"]] == ["b2"]


async def test_unknown_or_missing_instance_reads_the_own_outbox(client, boxes):
    first, _second = boxes
    _fill(first, 1, "a")
    for query in ("", "?instance=not-an-outbox"):
        body = await (await client.get(f"/v0/usage/events{query}", headers=AUTH)).json()
        assert body["instance_id"] == first.instance_id
        assert [e["request_id"] for e in body["events"]] == ["a0"]


async def test_an_ack_for_another_worker_is_applied_by_its_owner(client, boxes):
    _first, second = boxes
    _fill(second, 4, "b")
    resp = await client.post(
        "/v0/usage/ack", json={"instance_id": second.instance_id, "upto": 3}, headers=AUTH
    )
    assert resp.status == 200 and (await resp.json()) == {"acked": 3}
    assert second.acked_seq == 0, "only the owner changes its outbox"
    await AckInbox(second).apply()
    assert second.acked_seq == 3 and second.depth_events == 1
    body = await (
        await client.get(f"/v0/usage/events?instance={second.instance_id}", headers=AUTH)
    ).json()
    assert [e["request_id"] for e in body["events"]] == ["b3"]


def test_an_ack_request_never_goes_back(tmp_path: Path):
    assert record_ack_request(tmp_path, 7) == 7
    assert record_ack_request(tmp_path, 5) == 7
    assert read_ack_request(tmp_path) == 7


async def test_a_line_still_being_written_is_not_served(client, boxes):
    _first, second = boxes
    _fill(second, 1, "b")
    segment = next(second.directory.glob("*.jsonl"))
    with segment.open("ab") as file:
        file.write(b'{"seq":2,"event_id":"x"')  # half of a line another process is writing
    body = await (
        await client.get(f"/v0/usage/events?instance={second.instance_id}", headers=AUTH)
    ).json()
    assert [e["seq"] for e in body["events"]] == [1] and body["next"] == 1


async def test_one_process_answers_as_before(aiohttp_client, tmp_path: Path):
    """No worker folders: the answer has exactly the fields it always had."""
    box = Outbox(tmp_path / "usage", soft_cap_bytes=1 << 20)
    await box.start()
    try:
        app = web.Application()
        app.add_routes(usage_routes(box, lambda: [KEY], SiblingOutboxes(box.directory, box)))
        client = await aiohttp_client(app)
        _fill(box, 1, "a")
        raw = await (await client.get("/v0/usage/events", headers=AUTH)).read()
        assert set(orjson.loads(raw)) == {"instance_id", "events", "next"}
    finally:
        await box.close()


async def test_a_worker_outbox_has_one_owner_at_a_time(tmp_path: Path):
    """A worker restarted while its predecessor still drains waits for the folder, then goes
    on from the predecessor's last seq instead of appending beside it."""
    folder = tmp_path / "usage" / "worker-1"
    old = Outbox(folder, soft_cap_bytes=1 << 20, exclusive=True)
    await old.start()
    _fill(old, 2, "old")
    new = Outbox(folder, soft_cap_bytes=1 << 20, exclusive=True)
    starting = asyncio.create_task(new.start())
    done, _ = await asyncio.wait({starting}, timeout=0.5)
    assert not done, "the new owner waits while the old one holds the folder"
    await old.close()
    await starting
    try:
        assert new.append({"request_id": "new0"}) == 3
        assert new.instance_id == old.instance_id
    finally:
        await new.close()
