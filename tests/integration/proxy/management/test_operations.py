"""reset-quota, latest-version, usage-queue and the OAuth stand-ins."""

from __future__ import annotations

import pytest

from services.proxy.management import CredentialInfo


async def test_reset_quota_for_one_credential_and_for_all(mgmt):
    mgmt.fakes.credentials["abcdabcdabcdabcd"] = CredentialInfo("claude", "", "s")
    body = await mgmt.ok_json("POST", "/reset-quota", json={"auth_index": "abcdabcdabcdabcd"})
    assert body == {"status": "ok", "cleared": 1}
    assert await mgmt.ok_json("POST", "/reset-quota") == {"status": "ok", "cleared": 3}
    assert await mgmt.ok_json("POST", "/reset-quota", json={}) == {"status": "ok", "cleared": 3}
    assert mgmt.fakes.resets == ["abcdabcdabcdabcd", None, None]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"auth_index": "ffffffffffffffff"}}, 404),
        ({"json": {"auth_index": 5}}, 400),
        ({"json": ["x"]}, 400),
        ({"data": "{broken"}, 400),
    ],
)
async def test_reset_quota_validation_errors(mgmt, kwargs, status):
    resp = await mgmt.call("POST", "/reset-quota", **kwargs)
    assert resp.status == status
    assert "error" in await resp.json()
    assert mgmt.fakes.resets == []


async def test_latest_version_from_config_else_running_version(mgmt):
    assert await mgmt.ok_json("GET", "/latest-version") == {"latest-version": "1.2.3"}
    await mgmt.ctx.store.edit(lambda doc: doc.update({"latest-version": "9.9.9"}))
    assert await mgmt.ok_json("GET", "/latest-version") == {"latest-version": "9.9.9"}


async def test_usage_queue_pops_destructively(mgmt):
    mgmt.fakes.queue.extend({"seq": i} for i in range(5))
    assert await mgmt.ok_json("GET", "/usage-queue") == [{"seq": 0}]
    assert await mgmt.ok_json("GET", "/usage-queue", params={"count": "3"}) == [
        {"seq": 1},
        {"seq": 2},
        {"seq": 3},
    ]
    assert await mgmt.ok_json("GET", "/usage-queue", params={"count": "5000"}) == [{"seq": 4}]
    assert await mgmt.ok_json("GET", "/usage-queue") == []
    assert mgmt.fakes.popped_counts == [1, 3, 1000, 1]


@pytest.mark.parametrize("count", ["0", "-1", "many"])
async def test_usage_queue_validation_errors(mgmt, count):
    resp = await mgmt.call("GET", "/usage-queue", params={"count": count})
    assert resp.status == 400
    assert mgmt.fakes.popped_counts == []


@pytest.mark.parametrize("path", ["/qwen-auth-url", "/iflow-auth-url"])
async def test_retired_oauth_starters_answer_not_implemented(mgmt, path):
    # The other starters are the OAuth layer's (tests/integration/proxy/oauth).
    resp = await mgmt.call("GET", path)
    assert resp.status == 501
    body = await resp.json()
    assert body["status"] == "error" and "upload" in body["error"]
