"""The collector's routes: bearer auth, paging, ack and the error shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from services.proxy.usage import Outbox, usage_routes

COLLECTOR_KEY = "collector-key-0123456789"
MANAGEMENT_KEY = "management-key-0123456789"


@pytest.fixture
async def outbox(tmp_path: Path):
    box = Outbox(tmp_path / "usage", soft_cap_bytes=1 << 20)
    await box.start()
    yield box
    await box.close()


@pytest.fixture
def keys() -> list[str]:
    return [COLLECTOR_KEY, MANAGEMENT_KEY]


@pytest.fixture
async def client(aiohttp_client, outbox, keys):
    app = web.Application()
    app.add_routes(usage_routes(outbox, lambda: keys))
    return await aiohttp_client(app)


def _auth(key: str = COLLECTOR_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _fill(outbox: Outbox, count: int) -> None:
    for i in range(count):
        outbox.append({"model": "m", "request_id": f"r{i}"})


class TestAuth:
    @pytest.mark.parametrize(
        ("headers", "code"),
        [
            ({}, "missing_api_key"),
            ({"Authorization": "Bearer "}, "missing_api_key"),
            ({"Authorization": f"Basic {COLLECTOR_KEY}"}, "missing_api_key"),
            ({"Authorization": "Bearer wrong-key"}, "invalid_api_key"),
            ({"Authorization": f"Bearer {COLLECTOR_KEY}x"}, "invalid_api_key"),
        ],
    )
    async def test_refused_without_a_valid_key(self, client, headers, code):
        """Both routes answer 401 in the OpenAI error shape without a valid bearer key."""
        for method, path in (("GET", "/v0/usage/events"), ("POST", "/v0/usage/ack")):
            response = await client.request(method, path, headers=headers, json={})
            assert response.status == 401
            body = await response.json()
            assert body["error"]["type"] == "authentication_error"
            assert body["error"]["code"] == code
            assert body["error"]["message"]

    @pytest.mark.parametrize("key", [COLLECTOR_KEY, MANAGEMENT_KEY])
    async def test_collector_and_management_keys_work(self, client, key):
        """Either configured key is accepted; the scheme is case-insensitive."""
        response = await client.get("/v0/usage/events", headers={"Authorization": f"bearer {key}"})
        assert response.status == 200

    async def test_no_keys_configured_refuses_everyone(self, client, keys):
        """With only empty keys configured nobody gets in, not even with an empty bearer."""
        keys[:] = ["", ""]
        for headers in ({}, {"Authorization": "Bearer "}, _auth()):
            response = await client.get("/v0/usage/events", headers=headers)
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "no_keys_configured"

    async def test_key_changes_apply_live(self, client, keys):
        """A rotated key is refused on the next request."""
        keys[:] = ["new-collector-key"]
        assert (await client.get("/v0/usage/events", headers=_auth())).status == 401
        response = await client.get("/v0/usage/events", headers=_auth("new-collector-key"))
        assert response.status == 200


class TestEvents:
    async def test_page_shape_and_paging(self, client, outbox):
        """Events are embedded as objects; `next` is the cursor for the following page."""
        _fill(outbox, 7)
        response = await client.get("/v0/usage/events?after=0&limit=3", headers=_auth())
        assert response.status == 200
        assert response.content_type == "application/json"
        page = await response.json()
        assert page["instance_id"] == outbox.instance_id
        assert [e["seq"] for e in page["events"]] == [1, 2, 3]
        assert page["events"][0]["request_id"] == "r0"
        assert page["next"] == 3

        page = await (await client.get("/v0/usage/events?after=3", headers=_auth())).json()
        assert [e["seq"] for e in page["events"]] == [4, 5, 6, 7]
        assert page["next"] == 7

        page = await (await client.get("/v0/usage/events?after=7", headers=_auth())).json()
        assert page == {"instance_id": outbox.instance_id, "events": [], "next": 7}

    async def test_limit_above_the_maximum_is_clamped(self, client, outbox):
        """A huge limit is served, not refused."""
        _fill(outbox, 3)
        response = await client.get("/v0/usage/events?limit=1000000", headers=_auth())
        assert len((await response.json())["events"]) == 3

    @pytest.mark.parametrize(
        "query", ["after=-1", "after=abc", "limit=0", "limit=1.5", "after=\u0661"]
    )
    async def test_bad_query_is_400(self, client, query):
        """Cursor and limit must be plain non-negative integers (limit at least 1)."""
        response = await client.get(f"/v0/usage/events?{query}", headers=_auth())
        assert response.status == 400
        body = await response.json()
        assert body["error"]["type"] == "invalid_request_error"


class TestAck:
    async def test_ack_removes_events(self, client, outbox):
        """Acked events are no longer served; the answer is the acked seq."""
        _fill(outbox, 5)
        body = {"instance_id": outbox.instance_id, "upto": 3}
        response = await client.post("/v0/usage/ack", json=body, headers=_auth())
        assert response.status == 200
        assert await response.json() == {"acked": 3}
        page = await (await client.get("/v0/usage/events", headers=_auth())).json()
        assert [e["seq"] for e in page["events"]] == [4, 5]

    async def test_ack_beyond_last_is_clamped(self, client, outbox):
        """Acking past the last event acks only what exists."""
        _fill(outbox, 2)
        body = {"instance_id": outbox.instance_id, "upto": 99}
        response = await client.post("/v0/usage/ack", json=body, headers=_auth())
        assert await response.json() == {"acked": 2}

    async def test_wrong_instance_is_409(self, client, outbox):
        """An ack meant for another instance (a reset volume) is refused and changes nothing."""
        _fill(outbox, 2)
        body = {"instance_id": "00000000-0000-4000-8000-000000000000", "upto": 2}
        response = await client.post("/v0/usage/ack", json=body, headers=_auth())
        assert response.status == 409
        assert (await response.json())["error"]["code"] == "instance_mismatch"
        assert outbox.acked_seq == 0

    @pytest.mark.parametrize(
        "payload",
        [
            b"not json",
            b"[1, 2]",
            b'{"upto": 1}',
            b'{"instance_id": "", "upto": 1}',
            b'{"instance_id": "ID", "upto": "1"}',
            b'{"instance_id": "ID", "upto": true}',
            b'{"instance_id": "ID", "upto": -1}',
            b'{"instance_id": "ID"}',
        ],
    )
    async def test_bad_body_is_400(self, client, outbox, payload):
        """Malformed acks are refused with 400 and ack nothing."""
        _fill(outbox, 2)
        data = payload.replace(b"ID", outbox.instance_id.encode())
        response = await client.post("/v0/usage/ack", data=data, headers=_auth())
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "bad_request"
        assert outbox.acked_seq == 0
