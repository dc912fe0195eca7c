"""The refresher against the Claude fake, without the proxy around it."""

from __future__ import annotations

import asyncio
import json

from services.proxy.config.host_overrides import HostOverrides
from services.proxy.oauth.accounts import AccountPool
from services.proxy.oauth.auth_files import AuthFileStore
from services.proxy.oauth.http import http_factory
from services.proxy.oauth.refresh_lock import RefreshLocks
from services.proxy.oauth.refresher import Refresher
from services.proxy.upstream.sessions import UpstreamClients
from tests.fakes.oauth.harness import OAuthFakes
from tests.integration.proxy.oauth.conftest import seed_claude


async def test_back_to_back_refreshes_use_the_rotated_token(tmp_path, oauth_fakes: OAuthFakes):
    account = oauth_fakes.claude.add_account("twice@example.com")
    path = seed_claude(tmp_path, account, oauth_fakes.claude.issue(account))
    clients = UpstreamClients(HostOverrides(oauth_fakes.overrides))
    await clients.start()
    try:
        pool = AccountPool(AuthFileStore(tmp_path, 1 << 20))
        pool.scan()
        refresher = Refresher(pool, http_factory(clients, lambda: ""))
        entry = pool.entries[path.name]
        # No rescan in between: the second refresh must not reuse the revoked refresh token.
        assert await refresher.refresh(entry, force=True)
        assert await refresher.refresh(pool.entries[path.name], force=True)
    finally:
        await clients.close()
    refreshes = oauth_fakes.log.select(provider="claude", kind="refresh")
    assert [r.status for r in refreshes] == [200, 200]
    assert json.loads(path.read_text())["access_token"] == entry.token.access_token


async def test_scans_during_refreshes_never_revert_the_token(tmp_path, oauth_fakes: OAuthFakes):
    account = oauth_fakes.claude.add_account("race@example.com")
    path = seed_claude(tmp_path, account, oauth_fakes.claude.issue(account))
    clients = UpstreamClients(HostOverrides(oauth_fakes.overrides))
    await clients.start()
    try:
        pool = AccountPool(AuthFileStore(tmp_path, 1 << 20))
        pool.scan()
        refresher = Refresher(pool, http_factory(clients, lambda: ""))
        for _ in range(15):
            entry = pool.entries[path.name]
            results = await asyncio.gather(
                refresher.refresh(entry, force=True), *(pool.rescan() for _ in range(4))
            )
            assert results[0] is True
            await pool.rescan()
            assert pool.entries[path.name].token.access_token == entry.token.access_token
            data = json.loads(path.read_text())
            assert data["access_token"] == entry.token.access_token
    finally:
        await clients.close()
    assert {r.status for r in oauth_fakes.log.select(provider="claude", kind="refresh")} == {200}


async def test_two_workers_refresh_an_account_once(tmp_path, oauth_fakes: OAuthFakes):
    """Two worker processes' refreshers (each its own pool on the same auth folder) due at once:
    the provider sees one refresh (a second would use the revoked refresh token), and both
    end up with the token it returned."""
    account = oauth_fakes.claude.add_account("workers@example.com")
    path = seed_claude(tmp_path, account, oauth_fakes.claude.issue(account))
    clients = UpstreamClients(HostOverrides(oauth_fakes.overrides))
    await clients.start()
    try:
        pools = [AccountPool(AuthFileStore(tmp_path, 1 << 20)) for _ in range(2)]
        refreshers = []
        for pool in pools:
            pool.scan()
            http = http_factory(clients, lambda: "")
            refreshers.append(Refresher(pool, http, locks=RefreshLocks(tmp_path)))
        results = await asyncio.gather(
            *(r.refresh(p.entries[path.name]) for r, p in zip(refreshers, pools, strict=True))
        )
    finally:
        await clients.close()
    assert results == [True, True]
    refreshes = oauth_fakes.log.select(provider="claude", kind="refresh")
    assert [r.status for r in refreshes] == [200]
    on_disk = json.loads(path.read_text())["access_token"]
    assert [p.entries[path.name].token.access_token for p in pools] == [on_disk, on_disk]
