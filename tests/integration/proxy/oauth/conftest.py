"""The proxy in front of the OAuth provider fakes (tests/fakes/oauth), with helpers."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.proxy.oauth.provider import rfc3339
from tests.fakes.oauth.harness import OAuthFakes
from tests.fakes.oauth.state import Account, TokenSet
from tests.integration.proxy.harness import CLIENT_KEY, MANAGEMENT_KEY, InProcessProxy, run_proxy

MGMT = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
CLIENT = {"Authorization": f"Bearer {CLIENT_KEY}"}


def oauth_config(tmp: Path, fakes: OAuthFakes, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "api-keys": [CLIENT_KEY],
        "auth-dir": str(tmp / "auths"),
        "upstream-host-overrides": fakes.overrides,
        "streaming": {"keepalive-seconds": 0, "bootstrap-retries": 1},
        "request-retry": 0,
    }
    config.update(extra)
    return config


def seed_claude(auth_dir: Path, account: Account, tokens: TokenSet, **fields: Any) -> Path:
    """An auth file as CLIProxyAPI writes it for `account`, holding `tokens`."""
    auth_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "type": "claude",
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "id_token": "",
        "last_refresh": rfc3339(tokens.issued_at),
        "expired": rfc3339(tokens.expires_at),
        "email": account.email,
        "account_uuid": account.id,
        "organization_uuid": account.org_id,
        "organization_name": account.org_name,
        "claude_device_ids": ["ab" * 32],
        **fields,
    }
    path = auth_dir / f"claude-{account.email}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def auth_files(proxy: InProcessProxy, session: aiohttp.ClientSession) -> list[dict[str, Any]]:
    async with session.get(f"{proxy.base_url}/v0/management/auth-files", headers=MGMT) as resp:
        assert resp.status == 200
        files: list[dict[str, Any]] = (await resp.json())["files"]
        return files


async def wait_status(
    proxy: InProcessProxy, session: aiohttp.ClientSession, state: str, limit: float = 10
) -> dict[str, Any]:
    """Poll get-auth-status (as the Management Center does) until it is no longer `wait`."""
    deadline = time.monotonic() + limit
    url = f"{proxy.base_url}/v0/management/get-auth-status"
    while True:
        async with session.get(url, params={"state": state}, headers=MGMT) as resp:
            body: dict[str, Any] = await resp.json()
        if body["status"] != "wait" or time.monotonic() > deadline:
            return body
        await _pause()


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.05)  # the client's own polling interval


__all__ = ["CLIENT", "MGMT", "auth_files", "oauth_config", "run_proxy", "seed_claude"]
