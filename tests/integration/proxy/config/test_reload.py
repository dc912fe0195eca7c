"""Hot reload of config.yaml: keys added and removed on disk apply within about a second."""

from __future__ import annotations

import json

import aiohttp
from structlog.testing import capture_logs

from services.proxy.http.app_objects import STORE

from ..harness import CLIENT_KEY, MANAGEMENT_KEY, compat_config, eventually, run_proxy

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


async def _status(base: str, key: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base}/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {key}"}
        ) as resp,
    ):
        return resp.status


async def test_keys_added_and_removed_on_disk_apply_quickly(fake, tmp_path):
    """A key written to the file works within a second; a removed key is refused as fast."""
    config = compat_config(fake.base_url, ["k"])
    async with run_proxy(tmp_path, config) as px:
        assert await _status(px.base_url, "sk-new-key-abcdefgh") == 401
        px.rewrite({**config, "api-keys": [CLIENT_KEY, "sk-new-key-abcdefgh"]})
        await eventually(lambda: _status_is(px.base_url, "sk-new-key-abcdefgh", 200), limit=1.5)
        px.rewrite({**config, "api-keys": ["sk-new-key-abcdefgh"]})
        await eventually(lambda: _status_is(px.base_url, CLIENT_KEY, 401), limit=1.5)


async def _status_is(base: str, key: str, expected: int) -> bool:
    return await _status(base, key) == expected


async def test_broken_yaml_keeps_the_last_good_config(fake, tmp_path):
    """An invalid file on disk is refused and logged; the previous config keeps serving."""
    config = compat_config(fake.base_url, ["k"])
    async with run_proxy(tmp_path, config) as px:
        store = px.app[STORE]
        for broken in ("api-keys: [unclosed\n", "routing:\n  strategy: bogus\n"):
            with capture_logs() as logs:
                px.config_path.write_text(broken)
                await store.check_file()
            assert any(e["event"] == "config_reload_rejected" for e in logs)
            assert await _status(px.base_url, CLIENT_KEY) == 200
        assert store.current.config.api_keys == [CLIENT_KEY]


async def _rejected_reloads(base: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith('proxy_config_reloads_total{result="rejected"}'):
            return float(line.split()[-1])
    return 0.0


async def test_an_empty_file_keeps_the_last_good_config(fake, tmp_path):
    """A zero-byte config.yaml (a non-atomic write halfway) never locks every client out.

    The watcher sees it, refuses it, logs it and counts it; clients keep being served; the
    finished write then applies as usual.
    """
    config = compat_config(fake.base_url, ["k"])
    async with run_proxy(tmp_path, config) as px:
        for n, empty in enumerate(("", "# emptied by an editor\n\n"), start=1):
            with capture_logs() as logs:
                px.config_path.write_text(empty)  # truncated in place, as `>` or an editor does
                await eventually(lambda n=n: _count_is(px.base_url, n), limit=3)
            assert any(e["event"] == "config_reload_rejected" for e in logs)
            assert await _status(px.base_url, CLIENT_KEY) == 200
        px.config_path.write_text(json.dumps({**config, "api-keys": ["sk-after-the-write-1234"]}))
        await eventually(lambda: _status_is(px.base_url, "sk-after-the-write-1234", 200), limit=3)


async def _count_is(base: str, expected: float) -> bool:
    return await _rejected_reloads(base) == expected


async def test_management_put_of_an_empty_config_is_refused(fake, tmp_path):
    """PUT /config.yaml with nothing in it is a 422; the file and the live config stay."""
    config = compat_config(fake.base_url, ["k"])
    async with run_proxy(tmp_path, config) as px:
        before = px.config_path.read_text()
        async with (
            aiohttp.ClientSession() as session,
            session.put(
                f"{px.base_url}/v0/management/config.yaml",
                data=b"\n# nothing\n",
                headers={"Authorization": f"Bearer {MANAGEMENT_KEY}"},
            ) as resp,
        ):
            assert resp.status == 422
            body = await resp.json()
            assert body["error"] == "invalid_config"
            assert body["message"].startswith("config.yaml is empty")
        assert px.config_path.read_text() == before
        assert await _status(px.base_url, CLIENT_KEY) == 200
