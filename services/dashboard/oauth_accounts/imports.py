"""Importing an auth file: validated here, stored at every proxy replica, owned by the importer."""

from __future__ import annotations

import orjson

from services.core.db import Pool
from services.core.errors import Conflict
from services.dashboard.accounts import audit
from services.dashboard.accounts.audit import Actor
from services.dashboard.oauth_accounts import proxy_files
from services.dashboard.oauth_accounts.fields import check_import
from services.dashboard.oauth_accounts.queries import owners
from services.dashboard.proxies.client import ManagementClient
from services.dashboard.proxies.sync import config_lock


async def import_file(
    pool: Pool, client: ManagementClient, actor: Actor, file_name: str, content: str
) -> str:
    name, kind, data = check_import(file_name, content)
    existing = {str(f["name"]) for f in await proxy_files.listing(client)}
    if name in existing:
        raise Conflict(f"an account file named {name} already exists", code="already_exists")
    email = data.get("email")
    async with config_lock(pool) as conn:
        await owners.claim(conn, actor.id, kind, name, email if isinstance(email, str) else None)
        await proxy_files.upload(client, name, orjson.dumps(data), client.urls)
        await audit.record(conn, actor, "OAUTH_CREDENTIAL_IMPORTED", "oauth_account", name)
    return name
