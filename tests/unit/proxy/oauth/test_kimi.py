"""The Kimi provider's hooks against the Kimi fake (oauth-providers.md §5)."""

from __future__ import annotations

import time

import pytest

from services.proxy.oauth.provider import NotSupported, RefreshRejected
from services.proxy.oauth.providers.kimi import PROVIDER, upstream_model
from tests.fakes.wire_base import Reply
from tests.unit.proxy.oauth.conftest import (
    account,
    answer_text,
    answer_tool,
    client_body,
    credential,
    send,
)

FORMATS = ("openai", "responses", "anthropic", "gemini")


async def test_device_login_polls_until_approved(oauth_fakes, oauth_http):
    oauth_fakes.kimi.set_device_policy(pending_polls=2, interval=0)
    device = await PROVIDER.device_start(oauth_http)
    assert device.user_code and device.url.startswith("https://auth.kimi.com/device")
    assert device.interval >= 5.0  # §5: at least 5 s whatever the server says
    outcomes = [await PROVIDER.device_poll(oauth_http, device) for _ in range(3)]
    assert [o.outcome for o in outcomes] == ["pending", "pending", "done"]
    new = outcomes[-1].account
    assert new is not None and new.name.startswith("kimi-") and new.name.endswith(".json")
    data = new.data
    assert data["type"] == "kimi" and data["device_id"] == device.extra["device_id"]
    assert data["access_token"] and data["refresh_token"] and data["expired"]
    assert abs(data["timestamp"] / 1000 - time.time()) < 60
    polls = oauth_fakes.log.select(kind="device_poll")
    assert {p.headers["X-Msh-Device-Id"] for p in polls} == {device.extra["device_id"]}


@pytest.mark.parametrize(
    ("outcome", "expected"), [("access_denied", "denied"), ("expired_token", "expired")]
)
async def test_device_login_refusals(oauth_fakes, oauth_http, outcome, expected):
    oauth_fakes.kimi.set_device_policy(pending_polls=0, outcome=outcome, interval=0)
    device = await PROVIDER.device_start(oauth_http)
    poll = await PROVIDER.device_poll(oauth_http, device)
    assert poll.outcome == expected and poll.account is None and poll.message


async def test_polling_too_fast_slows_down(oauth_fakes, oauth_http):
    oauth_fakes.kimi.set_device_policy(pending_polls=5, interval=30)
    device = await PROVIDER.device_start(oauth_http)
    assert (await PROVIDER.device_poll(oauth_http, device)).outcome == "pending"
    assert (await PROVIDER.device_poll(oauth_http, device)).outcome == "slow_down"


def seeded(fakes):
    acct = fakes.kimi.add_account("k@kimi.test")
    issued = fakes.kimi.issue(acct)
    data = {
        "type": "kimi",
        "access_token": issued.access_token,
        "refresh_token": issued.refresh_token,
        "device_id": "dev-1",
        "expired": "2030-01-01T00:00:00Z",
    }
    return acct, issued, account("kimi-1700000000000.json", data)


async def test_refresh_and_rejection(oauth_fakes, oauth_http):
    acct, issued, file = seeded(oauth_fakes)
    done = await PROVIDER.refresh(oauth_http, file)
    assert done.tokens.access_token != issued.access_token
    assert set(done.updates) == {"type", "access_token", "refresh_token", "expired", "last_refresh"}
    rec = oauth_fakes.log.select(kind="refresh")[-1]
    assert rec.headers["X-Msh-Device-Id"] == "dev-1"
    oauth_fakes.kimi.revoke(acct)
    with pytest.raises(RefreshRejected):  # Kimi answers a rejected token with 401 (§5)
        await PROVIDER.refresh(oauth_http, file)


def test_model_names_lose_prefix_and_suffix():
    assert upstream_model("kimi-k3") == "k3"
    assert upstream_model("kimi-k2.6[1m]") == "k2.6"
    assert upstream_model("k2") == "k2"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("client_fmt", FORMATS)
async def test_every_client_format_is_served(oauth_fakes, session, client_fmt, stream):
    _, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    cred = credential(PROVIDER, up, issued.access_token)
    oauth_fakes.kimi.push(Reply(text="Hello from Kimi."))
    body = client_body(client_fmt, "kimi-k3")
    answer = await send(session, cred, client_fmt, body, model="kimi-k3", stream=stream)
    assert answer.status == 200, answer.body
    assert answer_text(client_fmt, answer, stream) == "Hello from Kimi."
    assert answer.sent["model"] == "k3"
    rec = oauth_fakes.log.select(kind="inference")[-1]
    assert rec.headers["X-Msh-Device-Id"] == "dev-1"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("client_fmt", FORMATS)
async def test_tools_and_thinking(oauth_fakes, session, client_fmt, stream):
    _, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    cred = credential(PROVIDER, up, issued.access_token)
    oauth_fakes.kimi.push(Reply(text="", tool=("get_weather", {"city": "Oslo"})))
    model = "kimi-k2-thinking(high)"
    body = client_body(client_fmt, model, tools=True)
    answer = await send(session, cred, client_fmt, body, model=model, stream=stream)
    assert answer.status == 200, answer.body
    assert answer_tool(client_fmt, answer, stream) == "get_weather"
    assert answer.sent["thinking"] == {"type": "enabled", "effort": "high"}
    assert "reasoning_effort" not in answer.sent


async def test_no_quota_lookup(oauth_fakes, oauth_http):
    _, issued, file = seeded(oauth_fakes)
    with pytest.raises(NotSupported):
        await PROVIDER.quota(oauth_http, file, issued.access_token)
