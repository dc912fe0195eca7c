"""Connecting an account: the login runs at one proxy replica, any dashboard replica follows it.

Start asks the proxy for the login URL (or device code) and records the login in Postgres with
the auth files that existed then. Status polls ask that proxy; once it says `ok`, the new file
is claimed for the user who started the login and copied to every other proxy replica. A
pasted redirect URL and a cancel go to the same proxy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from services.core.db import Connection, Pool
from services.core.errors import NotFound, UpstreamError, ValidationFailed
from services.dashboard.accounts import audit
from services.dashboard.accounts.audit import Actor
from services.dashboard.oauth_accounts import proxy_files
from services.dashboard.oauth_accounts.fields import TYPES, invalid
from services.dashboard.oauth_accounts.queries import logins, owners
from services.dashboard.oauth_accounts.queries.logins import Login
from services.dashboard.proxies.client import ManagementClient, ProxyUnavailable
from services.dashboard.proxies.sync import config_lock

MGMT = "/v0/management"
STARTERS = {
    "claude": "anthropic",
    "codex": "codex",
    "antigravity": "antigravity",
    "gemini": "gemini-cli",
    "kimi": "kimi",
    "xai": "xai",
}
DEVICE_TYPES = frozenset({"kimi", "xai"})


async def start(
    pool: Pool, client: ManagementClient, actor: Actor, provider: str
) -> dict[str, Any]:
    if provider not in TYPES:
        invalid("provider", f"provider must be one of {', '.join(TYPES)}")
    url = client.first
    known = [str(f["name"]) for f in await proxy_files.listing(client, url)]
    path = f"{MGMT}/{STARTERS[provider]}-auth-url"
    reply = await client.get_json(url, path, {"is_webui": "true"})
    if not isinstance(reply, dict) or not reply.get("state"):
        raise ProxyUnavailable("the proxy did not start a login")
    state = str(reply["state"])
    async with pool.connection() as conn, conn.transaction():
        await logins.insert(conn, Login(state, actor.id, provider, url, known, None))
        await audit.record(conn, actor, "OAUTH_LOGIN_STARTED", "oauth_login", provider)
    device = reply.get("flow") == "device" or provider in DEVICE_TYPES
    return {
        "state": state,
        "provider": provider,
        "flow": "device" if device else "redirect",
        "url": reply.get("url") or reply.get("verification_url"),
        "userCode": reply.get("user_code"),
        "expiresIn": reply.get("expires_in"),
    }


async def status(pool: Pool, client: ManagementClient, actor: Actor, state: str) -> dict[str, Any]:
    async with config_lock(pool) as conn:
        login = await _own_login(conn, actor, state)
        if login.account_name:
            return {"status": "ok", "account": login.account_name}
        answer = await client.get_json(login.proxy_url, f"{MGMT}/get-auth-status", {"state": state})
        result = answer if isinstance(answer, dict) else {}
        if result.get("status") != "ok":
            return {"status": result.get("status", "wait"), "error": result.get("error")}
        name = await _adopt(conn, client, login, actor)
    return {"status": "ok", "account": name}


async def _own_login(conn: Connection, actor: Actor, state: str) -> Login:
    login = await logins.get_for_update(conn, state)
    if login is None or login.user_id != actor.id:
        raise NotFound("no such login")
    return login


async def _adopt(conn: Connection, client: ManagementClient, login: Login, actor: Actor) -> str:
    """Claim the file the login wrote and copy it to the other replicas (inside config_lock)."""
    files = await proxy_files.listing(client, login.proxy_url)
    owned = await owners.all_owners(conn)
    item = _written_file(files, login, owned, actor.id)
    if item is None:
        raise UpstreamError("the login finished but its account file was not found")
    name = str(item["name"])
    others = [u for u in client.urls if u != login.proxy_url]
    if others:
        content = await proxy_files.download(client, name, login.proxy_url)
        await proxy_files.upload(client, name, content, others)
    if name not in owned:
        await owners.claim(
            conn, actor.id, login.provider, name, str(item.get("email") or "") or None
        )
    await logins.set_account(conn, login.state, name)
    await audit.record(conn, actor, "OAUTH_ACCOUNT_CONNECTED", "oauth_account", name)
    return name


def _written_file(
    files: list[dict[str, Any]], login: Login, owned: dict[str, Any], user_id: int
) -> dict[str, Any] | None:
    """A new file of the login's type; else (a re-login of a known account) one of that type
    rewritten since the login started that is unowned or already this user's."""
    of_type = [f for f in files if f.get("type") == login.provider]
    new = [f for f in of_type if f["name"] not in login.known_files and f["name"] not in owned]
    if new:
        return max(new, key=lambda f: str(f.get("modtime") or ""))
    since = (login.created_at or datetime.now(UTC)) - timedelta(seconds=2)
    fresh = [
        f
        for f in of_type
        if _modified(f) >= since and (f["name"] not in owned or owned[f["name"]].user_id == user_id)
    ]
    return max(fresh, key=lambda f: str(f.get("modtime") or "")) if fresh else None


def _modified(item: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(item.get("modtime") or "").replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


async def paste(
    pool: Pool, client: ManagementClient, actor: Actor, state: str, redirect_url: str
) -> None:
    """Hand the redirect URL the browser could not deliver (localhost on a server) to the proxy."""
    redirect_url = redirect_url.strip()
    if "code" not in redirect_url or len(redirect_url) > 4096:
        invalid("redirectUrl", "paste the whole address the sign-in ended on (it has a code)")
    async with pool.connection() as conn:
        login = await _own_login(conn, actor, state)
    try:
        await client.send_json(
            "POST", login.proxy_url, f"{MGMT}/oauth-callback", json={"redirect_url": redirect_url}
        )
    except ProxyUnavailable as exc:
        status = exc.details.get("status") if isinstance(exc.details, dict) else None
        if isinstance(status, int) and 400 <= status < 500:
            raise ValidationFailed(
                f"the proxy refused the address: {exc.message.rsplit(': ', 1)[-1]}",
                details=[{"field": "redirectUrl", "message": "refused"}],
            ) from None
        raise


async def cancel(pool: Pool, client: ManagementClient, actor: Actor, state: str) -> None:
    async with pool.connection() as conn, conn.transaction():
        login = await _own_login(conn, actor, state)
        if not login.account_name:
            await client.send_json(
                "DELETE", login.proxy_url, f"{MGMT}/oauth-session?state={quote(state)}"
            )
        await logins.delete(conn, state)
        await audit.record(conn, actor, "OAUTH_LOGIN_CANCELLED", "oauth_login", login.provider)
