"""The proxies' auth files: read from the first replica, every write sent to every replica.

A login or an upload lands at one proxy; the dashboard copies the file to the others, so every
replica serves the same accounts whether or not they share an auth folder.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from services.dashboard.proxies.client import ManagementClient, ProxyUnavailable

BASE = "/v0/management/auth-files"
MAX_FILE = 1024 * 1024  # what the import accepts, and what a download may be


async def listing(client: ManagementClient, url: str | None = None) -> list[dict[str, Any]]:
    body = await client.get_json(url or client.first, BASE)
    files = body.get("files") if isinstance(body, dict) else None
    return [f for f in files or [] if isinstance(f, dict) and f.get("name")]


async def download(client: ManagementClient, name: str, url: str | None = None) -> bytes:
    path = f"{BASE}/download?name={quote(name)}"
    data, more = await client.get_bytes(url or client.first, path, MAX_FILE)
    if more:
        raise ProxyUnavailable(f"the auth file {name} is larger than {MAX_FILE} bytes")
    return data


async def upload(client: ManagementClient, name: str, content: bytes, urls: list[str]) -> None:
    for url in urls:
        await client.send_json(
            "POST",
            url,
            BASE,
            params={"name": name},
            data=content,
            headers={"Content-Type": "application/json"},
        )


async def patch_fields(client: ManagementClient, name: str, fields: dict[str, Any]) -> None:
    for url in client.urls:
        await client.send_json("PATCH", url, f"{BASE}/fields", json={"name": name, **fields})


async def set_disabled(client: ManagementClient, name: str, disabled: bool) -> None:
    for url in client.urls:
        await client.send_json(
            "PATCH", url, f"{BASE}/status", json={"name": name, "disabled": disabled}
        )


async def delete(client: ManagementClient, name: str) -> None:
    for url in client.urls:
        await client.send_json("DELETE", url, BASE, params={"name": name})


async def models(client: ManagementClient, name: str) -> list[dict[str, Any]]:
    body = await client.get_json(client.first, f"{BASE}/models", {"name": name})
    items = body.get("models") if isinstance(body, dict) else None
    return [m for m in items or [] if isinstance(m, dict)]


async def copy_missing(client: ManagementClient, peer: str, url: str) -> None:
    """Give the replica at `url` every auth file of `peer` it lacks (a new replica's seeding).

    Files it already has are left alone: they are the same accounts, maybe with fresher tokens.
    """
    present = {str(f["name"]) for f in await listing(client, url)}
    for item in await listing(client, peer):
        name = str(item["name"])
        if name not in present:
            await upload(client, name, await download(client, name, peer), [url])
