"""`python -m services.proxy login <provider> --no-browser` for a redirect provider (Codex: the
pasted redirect URL) and a device-code provider (xAI: the verification URL and code printed,
approved at the fake) against their fakes."""

from __future__ import annotations

import asyncio
import json
import re
import sys

import aiohttp
import pytest

from tests.fakes.oauth.harness import OAuthFakes
from tests.integration.proxy.harness import REPO, write_config
from tests.integration.proxy.oauth.conftest import oauth_config


async def _login(tmp_path, fakes: OAuthFakes, provider: str, browser_step) -> tuple[bytes, bytes]:
    config_path = tmp_path / "config.yaml"
    write_config(config_path, oauth_config(tmp_path, fakes))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.proxy",
        "login",
        provider,
        "--config",
        str(config_path),
        "--no-browser",
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        async with asyncio.timeout(60):
            while not (
                match := re.search(r"https?://\S+", line := (await proc.stdout.readline()).decode())
            ):
                assert line, "the CLI ended before printing a URL"
            async with aiohttp.ClientSession() as browser:
                pasted = await browser_step(browser, match.group(0))
            if pasted:
                proc.stdin.write(pasted.encode() + b"\n")
                await proc.stdin.drain()
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    return out, err


async def test_codex_headless_login(tmp_path, oauth_fakes: OAuthFakes):
    account = oauth_fakes.codex.add_account("cli@example.com", plan="plus")

    async def consent(browser, url: str) -> str:
        async with browser.get(url, allow_redirects=False) as resp:
            return resp.headers["Location"]

    out, err = await _login(tmp_path, oauth_fakes, "codex", consent)
    (path,) = (tmp_path / "auths").iterdir()
    assert path.name.endswith("-cli@example.com-plus.json")
    data = json.loads(path.read_text())
    assert data["type"] == "codex" and data["account_id"] == account.id
    assert not oauth_fakes.leaked_in(out.decode() + err.decode())


@pytest.mark.parametrize("kind", ["xai"])
async def test_device_code_headless_login(tmp_path, oauth_fakes: OAuthFakes, kind):
    account = oauth_fakes.xai.add_account("grok-cli@example.com")
    oauth_fakes.xai.set_device_policy(pending_polls=None, interval=1)

    async def approve(browser, url: str) -> str:
        async with browser.get(url) as resp:  # the user opens the printed verification URL
            assert resp.status == 200, await resp.text()
        return ""

    out, err = await _login(tmp_path, oauth_fakes, kind, approve)
    data = json.loads((tmp_path / "auths" / f"xai-{account.email}.json").read_text())
    assert data["type"] == "xai" and data["sub"] == account.id
    assert not oauth_fakes.leaked_in(out.decode() + err.decode())
