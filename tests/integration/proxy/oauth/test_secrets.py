"""No issued code or token of the Claude fake reaches the proxy's logs, metrics, error bodies,
listings or usage events, through a login, a refresh, a 401 retry and a rate limit."""

from __future__ import annotations

import json

import anthropic
import pytest

from tests.fakes.oauth.harness import OAuthFakes
from tests.integration.proxy.harness import CLIENT_KEY, eventually, run_proxy
from tests.integration.proxy.oauth.conftest import MGMT, auth_files, oauth_config, wait_status


async def test_tokens_stay_out_of_every_output(tmp_path, oauth_fakes: OAuthFakes, session, capfd):
    account = oauth_fakes.claude.add_account("secret@example.com")
    oauth_fakes.claude.access_ttl = 600  # inside the 4 h lead: refreshed right after login
    config = oauth_config(tmp_path, oauth_fakes, debug=True)
    seen: list[str] = []
    async with run_proxy(tmp_path, config) as proxy:
        base = f"{proxy.base_url}/v0/management"
        async with session.get(f"{base}/anthropic-auth-url", headers=MGMT) as resp:
            started = await resp.json()
        async with session.get(started["url"], allow_redirects=False) as resp:
            redirect = resp.headers["Location"]
        async with session.post(f"{base}/oauth-callback", json={"redirect_url": redirect}) as r:
            seen.append(await r.text())
        assert (await wait_status(proxy, session, started["state"]))["status"] == "ok"
        await oauth_fakes.log.wait_for(provider="claude", kind="refresh", status=200)
        newest = oauth_fakes.claude.grants.issued[-1].access_token
        path = tmp_path / "auths" / "claude-secret@example.com.json"
        # The refresh is written back (and live) before the token is made to expire.
        await eventually(lambda: json.loads(path.read_text())["access_token"] == newest)

        oauth_fakes.claude.expire_now(account)
        async with anthropic.AsyncAnthropic(
            api_key=CLIENT_KEY, base_url=proxy.base_url, max_retries=0
        ) as client:
            await client.messages.create(
                model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "x"}]
            )
            oauth_fakes.claude.rate_limit(account, reset_in=60)
            with pytest.raises(anthropic.RateLimitError) as caught:
                await client.messages.create(
                    model="claude-sonnet-4-6",
                    max_tokens=8,
                    messages=[{"role": "user", "content": "x"}],
                )
            seen.append(caught.value.response.text)
        seen.append(json.dumps(await auth_files(proxy, session)))
        async with session.get(f"{base}/usage-queue", params={"count": 50}, headers=MGMT) as r:
            seen.append(await r.text())
        async with session.get(f"{proxy.base_url}/metrics") as r:
            seen.append(await r.text())
    out, err = capfd.readouterr()
    seen += [out, err]
    assert oauth_fakes.log.count(provider="claude", kind="refresh", status=200) == 2
    assert oauth_fakes.leaked_in("\n".join(seen)) == []
    assert oauth_fakes.misplaced_secrets() == []
