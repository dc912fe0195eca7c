"""`python -m services.proxy login claude --no-browser` against the Claude fake."""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp

from tests.fakes.oauth.harness import OAuthFakes
from tests.integration.proxy.harness import REPO, write_config
from tests.integration.proxy.oauth.conftest import oauth_config


async def test_headless_login_with_pasted_url(tmp_path, oauth_fakes: OAuthFakes):
    oauth_fakes.claude.add_account("cli@example.com")
    config_path = tmp_path / "config.yaml"
    write_config(config_path, oauth_config(tmp_path, oauth_fakes))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.proxy",
        "login",
        "claude",
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
            while not (line := (await proc.stdout.readline()).decode()).startswith("http"):
                assert line, "the CLI ended before printing the URL"
            async with (
                aiohttp.ClientSession() as browser,
                browser.get(line.strip(), allow_redirects=False) as resp,
            ):
                callback = resp.headers["Location"]
            proc.stdin.write(callback.encode() + b"\n")
            await proc.stdin.drain()
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"saved" in out
    data = json.loads((tmp_path / "auths" / "claude-cli@example.com.json").read_text())
    assert data["type"] == "claude" and data["refresh_token"]
    assert not oauth_fakes.leaked_in(out.decode() + err.decode())
