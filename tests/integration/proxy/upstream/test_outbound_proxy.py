"""proxy-url: per-key and global outbound proxies (HTTP with and without Basic auth, SOCKS5 with
and without username/password, socks5h), sent by the lean client and by aiohttp when the
lean client is switched off; a refusing or dead proxy fails over, its password in no output."""

from __future__ import annotations

import aiohttp
import pytest

from services.proxy.http.app_objects import EXECUTOR
from tests.conftest import free_port
from tests.fakes.forward_proxy import HttpForwardProxy, Socks5Proxy

from ..harness import CLIENT_KEY, compat_config, run_proxy

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
SECRET = "pr0xy-s3cret"


async def _post(base: str, stream: bool = False) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/v1/chat/completions",
            json={**BODY, "stream": stream},
            headers={"Authorization": f"Bearer {CLIENT_KEY}"},
        ) as resp:
            return resp.status, await resp.text()


async def _ok(base: str, stream: bool = False) -> None:
    status, text = await _post(base, stream)
    assert status == 200, text
    assert not stream or text.rstrip().endswith("data: [DONE]")


def _socks5h() -> Socks5Proxy:
    proxy = Socks5Proxy(("user", SECRET))
    proxy.scheme = "socks5h"
    return proxy


KINDS = {
    "http": HttpForwardProxy,
    "http-auth": lambda: HttpForwardProxy(("user", SECRET)),
    "socks5": Socks5Proxy,
    "socks5-auth": lambda: Socks5Proxy(("user", SECRET)),
    "socks5h": _socks5h,
}


@pytest.mark.parametrize("lean", [True, False])
@pytest.mark.parametrize("kind", list(KINDS))
async def test_per_key_proxy_url_carries_the_upstream_calls(fake, tmp_path, kind, lean):
    """A key's proxy-url routes its upstream calls (plain and streamed) through that proxy, on
    either client; the lean client keeps the tunnel (or the connection to an HTTP proxy) for
    the next request."""
    async with KINDS[kind]() as outbound:
        config = compat_config(fake.base_url, ["k"], **{"lean-upstream-client": lean})
        config["openai-compatibility"][0]["api-key-entries"][0]["proxy-url"] = outbound.url
        async with run_proxy(tmp_path, config) as px:
            await _ok(px.base_url)
            await _ok(px.base_url, stream=True)
            await _ok(px.base_url)
            proxied = px.app[EXECUTOR].upstream.lean_for(outbound.url)
            pooled = proxied.idle_count() if proxied is not None else None
    assert all(fake.origin.split("//")[1] in target for target in outbound.targets)
    assert len(outbound.targets) == (3 if kind.startswith("http") else 1)
    assert len(fake.requests) == 3
    if lean:
        assert pooled == 1


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


@pytest.mark.parametrize("lean", [True, False])
async def test_a_dead_proxy_fails_over_to_the_next_key(fake, tmp_path, lean):
    config = compat_config(fake.base_url, ["a", "b"], **{"lean-upstream-client": lean})
    entries = config["openai-compatibility"][0]["api-key-entries"]
    entries[0]["proxy-url"] = f"http://user:{SECRET}@127.0.0.1:{free_port()}"
    config["routing"] = {"strategy": "fill-first"}
    async with run_proxy(tmp_path, config) as px:
        await _ok(px.base_url)
    assert [r.api_key for r in fake.requests] == ["b"]


async def test_a_refused_proxy_password_is_in_no_output(fake, tmp_path, capfd):
    """A 407 is a network error of that key (the next one serves); the password in proxy-url
    appears in no error body, log line, metric or usage event."""
    seen: list[str] = []
    async with HttpForwardProxy(("user", "right")) as outbound:
        config = compat_config(fake.base_url, ["a"], **{"proxy-url": outbound.url})
        config["proxy-url"] = outbound.url.replace("right", SECRET)
        async with run_proxy(tmp_path, config) as px:
            status, text = await _post(px.base_url)
            seen.append(text)
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{px.base_url}/metrics") as resp:
                    seen.append(await resp.text())
    out, err = capfd.readouterr()
    seen += [out, err]
    assert status == 502
    assert fake.requests == []
    assert "upstream_failed" in out + err  # the attempt was logged, naming the proxy...
    assert f"ProxyAuthFailed (outbound proxy 127.0.0.1:{outbound.port} refused" in out + err
    assert SECRET not in "\n".join(seen)  # ...without the password
