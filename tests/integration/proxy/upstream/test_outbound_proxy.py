"""proxy-url: per-key and global outbound proxies, HTTP and SOCKS5."""

from __future__ import annotations

import aiohttp
import pytest

from tests.fakes.forward_proxy import HttpForwardProxy, Socks5Proxy

from ..harness import CLIENT_KEY, compat_config, run_proxy

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


async def _ok(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/v1/chat/completions",
            json=BODY,
            headers={"Authorization": f"Bearer {CLIENT_KEY}"},
        ) as resp:
            assert resp.status == 200, await resp.text()


@pytest.mark.parametrize("kind", [HttpForwardProxy, Socks5Proxy])
async def test_per_key_proxy_url_carries_the_upstream_call(fake, tmp_path, kind):
    """A key's proxy-url routes its upstream calls through that proxy (HTTP or SOCKS5)."""
    async with kind() as outbound:
        config = compat_config(fake.base_url, ["k"])
        config["openai-compatibility"][0]["api-key-entries"][0]["proxy-url"] = outbound.url
        async with run_proxy(tmp_path, config) as px:
            await _ok(px.base_url)
    assert len(outbound.targets) == 1
    assert fake.origin.split("//")[1] in outbound.targets[0]
    assert len(fake.requests) == 1


@pytest.mark.parametrize(("key_proxy", "via_proxy"), [("", True), ("direct", False)])
async def test_global_proxy_url_and_direct_override(fake, tmp_path, key_proxy, via_proxy):
    """The global proxy-url applies to every key, except a key whose proxy-url is `direct`."""
    async with HttpForwardProxy() as outbound:
        config = compat_config(fake.base_url, ["k"], **{"proxy-url": outbound.url})
        config["openai-compatibility"][0]["api-key-entries"][0]["proxy-url"] = key_proxy
        async with run_proxy(tmp_path, config) as px:
            await _ok(px.base_url)
    assert bool(outbound.targets) is via_proxy
    assert len(fake.requests) == 1
