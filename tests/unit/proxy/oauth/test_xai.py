"""The xAI provider's hooks against the xAI fake (oauth-providers.md §6)."""

from __future__ import annotations

import pytest

from services.proxy.oauth.provider import NotSupported, RefreshRejected
from services.proxy.oauth.providers.xai import PROVIDER, trusted_endpoint
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


def test_only_https_x_ai_endpoints_are_trusted():
    assert trusted_endpoint("https://auth.x.ai/oauth2/token")
    assert trusted_endpoint("https://x.ai/token")
    assert not trusted_endpoint("http://auth.x.ai/oauth2/token")
    assert not trusted_endpoint("https://auth.x.ai.evil.test/token")
    assert not trusted_endpoint("https://evilx.ai/token")
    assert not trusted_endpoint("not a url")


async def test_device_login(oauth_fakes, oauth_http):
    acct = oauth_fakes.xai.add_account("grok@x.test")
    oauth_fakes.xai.set_device_policy(pending_polls=1, interval=0)
    device = await PROVIDER.device_start(oauth_http)
    assert device.url.startswith("https://auth.x.ai/device")
    assert device.extra["token_endpoint"] == "https://auth.x.ai/oauth2/token"
    first = await PROVIDER.device_poll(oauth_http, device)
    done = await PROVIDER.device_poll(oauth_http, device)
    assert (first.outcome, done.outcome) == ("pending", "done")
    assert done.account is not None and done.account.name == "xai-grok@x.test.json"
    data = done.account.data
    assert (data["type"], data["email"], data["sub"]) == ("xai", "grok@x.test", acct.id)
    assert data["base_url"] == "https://api.x.ai/v1" and data["auth_kind"] == "oauth"
    assert data["token_endpoint"] == "https://auth.x.ai/oauth2/token"
    start = oauth_fakes.log.select(kind="device_start")[-1]
    assert start.encoding == "form" and "grok-cli:access" in start.body["scope"]


async def test_slow_down_and_denial(oauth_fakes, oauth_http):
    oauth_fakes.xai.set_device_policy(pending_polls=3, interval=30)
    device = await PROVIDER.device_start(oauth_http)
    assert (await PROVIDER.device_poll(oauth_http, device)).outcome == "pending"
    assert (await PROVIDER.device_poll(oauth_http, device)).outcome == "slow_down"
    oauth_fakes.xai.set_device_policy(pending_polls=0, outcome="access_denied", interval=0)
    device = await PROVIDER.device_start(oauth_http)
    assert (await PROVIDER.device_poll(oauth_http, device)).outcome == "denied"


def seeded(fakes, base_url=""):
    acct = fakes.xai.add_account("s@x.test")
    issued = fakes.xai.issue(acct)
    data = {
        "type": "xai",
        "access_token": issued.access_token,
        "refresh_token": issued.refresh_token,
        "id_token": issued.id_token,
        "expired": "2030-01-01T00:00:00Z",
        "email": "s@x.test",
        "base_url": base_url,
        "token_endpoint": "https://auth.x.ai/oauth2/token",
    }
    return acct, issued, account("xai-s@x.test.json", data)


async def test_refresh(oauth_fakes, oauth_http):
    acct, issued, file = seeded(oauth_fakes)
    done = await PROVIDER.refresh(oauth_http, file)
    assert done.tokens.access_token != issued.access_token
    assert done.updates["email"] == "s@x.test" and done.updates["sub"] == acct.id
    oauth_fakes.xai.revoke(acct)
    with pytest.raises(RefreshRejected):
        await PROVIDER.refresh(oauth_http, file)


async def test_refresh_rediscovers_a_foreign_token_endpoint(oauth_fakes, oauth_http):
    _, _, file = seeded(oauth_fakes)
    file = account(file.name, {**file.data, "token_endpoint": "https://evil.test/token"})
    await PROVIDER.refresh(oauth_http, file)
    assert oauth_fakes.log.count(kind="discovery") == 1
    assert not [r for r in oauth_fakes.log.entries if "evil" in r.origin]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("client_fmt", FORMATS)
async def test_every_client_format_is_served(oauth_fakes, session, client_fmt, stream):
    _, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    assert up.base_url == "https://cli-chat-proxy.grok.com/v1"
    cred = credential(PROVIDER, up, issued.access_token)
    oauth_fakes.xai.push(Reply(text="Hello from Grok."))
    body = client_body(client_fmt, "grok-4.5")
    answer = await send(session, cred, client_fmt, body, model="grok-4.5", stream=stream)
    assert answer.status == 200, answer.body
    assert answer_text(client_fmt, answer, stream) == "Hello from Grok."
    rec = oauth_fakes.log.select(kind="inference")[-1]
    assert rec.origin == "https://cli-chat-proxy.grok.com"
    assert rec.headers["X-XAI-Token-Auth"] == "xai-grok-cli"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("client_fmt", FORMATS)
async def test_tools_and_thinking(oauth_fakes, session, client_fmt, stream):
    _, issued, file = seeded(oauth_fakes)
    (up,) = PROVIDER.upstream(file)
    cred = credential(PROVIDER, up, issued.access_token)
    oauth_fakes.xai.push(Reply(text="", tool=("get_weather", {"city": "Oslo"}), thinking="hm"))
    model = "grok-4.20-0309-reasoning(low)"
    body = client_body(client_fmt, model, tools=True)
    answer = await send(
        session,
        cred,
        client_fmt,
        body,
        model=model,
        stream=stream,
        client_headers={"Session_id": "conv-9"},
    )
    assert answer.status == 200, answer.body
    assert answer_tool(client_fmt, answer, stream) == "get_weather"
    assert answer.sent["reasoning"]["effort"] == "low"
    assert answer.sent["model"] == "grok-4.20-0309-reasoning"
    assert oauth_fakes.log.select(kind="inference")[-1].headers["x-grok-conv-id"] == "conv-9"


async def test_a_file_pointing_at_another_base_url(oauth_fakes, session):
    _, _, file = seeded(oauth_fakes, base_url="https://api.x.ai/v1/")
    (up,) = PROVIDER.upstream(file)
    assert up.base_url == "https://cli-chat-proxy.grok.com/v1"  # the default API: CLI proxy
    _, _, file = seeded(oauth_fakes, base_url="https://api.x.ai/v2")
    (up,) = PROVIDER.upstream(file)
    assert up.base_url == "https://api.x.ai/v2" and "X-XAI-Token-Auth" not in up.headers


async def test_no_quota_lookup(oauth_fakes, oauth_http):
    _, issued, file = seeded(oauth_fakes)
    with pytest.raises(NotSupported):
        await PROVIDER.quota(oauth_http, file, issued.access_token)
