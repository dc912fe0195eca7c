"""The database side of `manage.sh rotate-secrets` (`python -m services.dashboard.rotate`): a
new PROVIDER_ENCRYPTION_KEY with the old one still accepted, every stored secret re-encrypted
in one transaction, every session ended; a secret neither key opens changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from pydantic import SecretStr
from starlette.testclient import TestClient

from services.core.crypto import CryptoError, seal, unseal
from services.dashboard.app import create_app
from services.dashboard.settings import DashboardSettings
from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard.conftest import (
    ENC_KEY,
    JWT_SECRET,
    MGMT_KEY,
    ORIGIN,
    PASSWORD,
    Browser,
    make_settings,
)
from tests.integration.dashboard.providers.test_providers import (
    CLAUDE_KEY,
    UPSTREAM_KEY,
    provider_body,
)

ROOT = Path(__file__).resolve().parents[3]
NEW_KEY = "a1" * 32


def _sealed(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT secret_encrypted FROM provider_keys UNION ALL"
            " SELECT api_key_encrypted FROM custom_providers ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def _opens(key_hex: str, sealed: str) -> bool:
    try:
        unseal(bytes.fromhex(key_hex), sealed)
    except CryptoError:
        return False
    return True


def _settings(dsn: str, proxy: FakeManagementAPI, **keys: str) -> DashboardSettings:
    base = make_settings(dsn, [proxy], fetch_models_allow="")
    return base.model_copy(update={k: SecretStr(v) for k, v in keys.items()})


def _rotate(dsn: str, key: str, old: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": dsn,
        "JWT_SECRET": JWT_SECRET,
        "MANAGEMENT_API_KEY": MGMT_KEY,
        "PROVIDER_ENCRYPTION_KEY": key,
        "PROVIDER_ENCRYPTION_KEY_OLD": old,
    }
    return subprocess.run(
        [sys.executable, "-m", "services.dashboard.rotate"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _resync_pushes_the_secrets(settings: DashboardSettings, proxy: FakeManagementAPI) -> None:
    """A dashboard with `settings` restores a proxy that lost its lists from what it stored."""
    proxy.config["claude-api-key"], proxy.config["openai-compatibility"] = [], []
    with TestClient(create_app(settings, resync_interval_s=0), base_url=ORIGIN) as client:
        alice = Browser(client)
        login = alice.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert alice.post("/api/custom-providers/resync").status_code == 200
    assert proxy.snapshot("claude-api-key")[0]["api-key"] == CLAUDE_KEY
    assert proxy.snapshot("openai-compatibility")[0]["api-key-entries"] == [
        {"api-key": UPSTREAM_KEY}
    ]


def test_rotation_reencrypts_everything_and_ends_sessions(
    alice: Browser, admin: Browser, fake_proxy: FakeManagementAPI, settings: DashboardSettings
) -> None:
    assert alice.post("/api/custom-providers", json=provider_body()).status_code == 201
    added = alice.post("/api/providers/keys", json={"provider": "claude", "apiKey": CLAUDE_KEY})
    assert added.status_code == 201
    dsn = settings.database_url.get_secret_value()
    before = _sealed(dsn)
    assert all(_opens(ENC_KEY, s) for s in before)

    # The new key is live, the old one still accepted: nothing is unreadable meanwhile.
    both = _settings(
        dsn, fake_proxy, provider_encryption_key=NEW_KEY, provider_encryption_key_old=ENC_KEY
    )
    _resync_pushes_the_secrets(both, fake_proxy)

    result = _rotate(dsn, NEW_KEY, ENC_KEY)
    assert result.returncode == 0, result.stderr
    assert "2 secret(s) re-encrypted, 0 already current" in result.stdout
    after = _sealed(dsn)
    assert all(_opens(NEW_KEY, s) and not _opens(ENC_KEY, s) for s in after)
    assert alice.get("/api/auth/me").status_code == 401  # sessions ended
    assert admin.get("/api/auth/me").status_code == 401
    with psycopg.connect(dsn) as conn:
        (meta,) = conn.execute(
            "SELECT metadata FROM audit_log WHERE action = 'SECRETS_ROTATED'"
        ).fetchone()
    assert meta == {"resealed": 2, "alreadyCurrent": 0, "sessionsEnded": 3}  # 2 + the resync's

    # The old key can go: the new one alone opens everything.
    _resync_pushes_the_secrets(
        _settings(dsn, fake_proxy, provider_encryption_key=NEW_KEY), fake_proxy
    )
    again = _rotate(dsn, NEW_KEY, ENC_KEY)  # a second run (a resumed rotation) is harmless
    assert "0 secret(s) re-encrypted, 2 already current" in again.stdout
    assert _sealed(dsn) == after


def test_a_secret_neither_key_opens_aborts_the_whole_rotation(
    alice: Browser, settings: DashboardSettings
) -> None:
    alice.post("/api/providers/keys", json={"provider": "claude", "apiKey": CLAUDE_KEY})
    alice.post("/api/custom-providers", json=provider_body())
    dsn = settings.database_url.get_secret_value()
    stranger = seal(bytes.fromhex("cd" * 32), UPSTREAM_KEY)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE custom_providers SET api_key_encrypted = %s", (stranger,))
    before = _sealed(dsn)
    result = _rotate(dsn, NEW_KEY, ENC_KEY)
    assert result.returncode == 1
    assert "custom_providers id" in result.stderr and "nothing was changed" in result.stderr
    assert _sealed(dsn) == before  # the provider key opened fine, and was not re-encrypted
    assert alice.get("/api/auth/me").status_code == 200  # sessions untouched
