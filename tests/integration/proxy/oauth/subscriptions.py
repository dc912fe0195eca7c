"""Auth files of the five subscription providers beside Claude, seeded from the fakes' tokens
as CLIProxyAPI writes them, and the model each serves (oauth-providers.md §3-§7)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.proxy.oauth.provider import rfc3339
from tests.fakes.oauth.harness import OAuthFakes
from tests.fakes.oauth.state import Account, TokenSet

KINDS = ("codex", "antigravity", "gemini", "kimi", "xai")
MODEL = {
    "codex": "gpt-5.5",
    "antigravity": "gemini-3-flash",
    "gemini": "gemini-2.5-pro",
    "kimi": "kimi-k3",
    "xai": "grok-4.5",
}
FAKE_NAME = {"antigravity": "google", "gemini": "google"}


@dataclass
class Seeded:
    kind: str
    account: Account
    tokens: TokenSet
    path: Path

    @property
    def greeting(self) -> str:
        """The fake's default answer for this account."""
        return f"Hello from {FAKE_NAME.get(self.kind, self.kind)} account {self.account.email}."

    def data(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.path.read_text())
        return loaded


def seed(
    fakes: OAuthFakes, kind: str, auth_dir: Path, email: str, ttl: int | None = None
) -> Seeded:
    """A fake account of `kind` and its auth file in `auth_dir` (tokens valid for `ttl`)."""
    fake = fakes.providers[kind]
    n = len(fake.accounts) + 1
    if kind in ("antigravity", "gemini"):
        account = fake.add_account(email, project=f"{kind}-proj-{n}")
        tokens = fake.issue(account, kind, ttl=ttl)
    else:
        account = fake.add_account(email, **({"plan": "pro"} if kind == "codex" else {}))
        tokens = fake.issue(account, ttl=ttl)
    data = _file(kind, account, tokens)
    auth_dir.mkdir(parents=True, exist_ok=True)
    path = auth_dir / f"{kind}-{email}.json"
    path.write_text(json.dumps(data))
    return Seeded(kind, account, tokens, path)


def _file(kind: str, account: Account, tokens: TokenSet) -> dict[str, Any]:
    expired, issued = rfc3339(tokens.expires_at), rfc3339(tokens.issued_at)
    common = {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token}
    if kind == "codex":
        return {
            "type": "codex",
            **common,
            "id_token": tokens.id_token,
            "account_id": account.id,
            "email": account.email,
            "expired": expired,
            "last_refresh": issued,
        }
    if kind == "antigravity":
        return {
            "type": "antigravity",
            **common,
            "expires_in": tokens.expires_in,
            "timestamp": int(tokens.issued_at * 1000),
            "expired": expired,
            "email": account.email,
            "project_id": account.project,
        }
    if kind == "gemini":
        token = {**common, "token_type": "Bearer", "expiry": expired}
        return {
            "type": "gemini",
            "token": token,
            "project_id": account.project,
            "email": account.email,
            "auto": False,
            "checked": True,
        }
    if kind == "kimi":
        return {
            "type": "kimi",
            **common,
            "token_type": "Bearer",
            "device_id": f"device-{account.id}",
            "expired": expired,
            "timestamp": int(time.time() * 1000),
        }
    return {
        "type": "xai",
        **common,
        "id_token": tokens.id_token,
        "expired": expired,
        "email": account.email,
        "sub": account.id,
        "base_url": "https://api.x.ai/v1",
        "token_endpoint": "https://auth.x.ai/oauth2/token",
        "auth_kind": "oauth",
    }
