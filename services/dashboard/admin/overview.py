"""The overview's counts: active client keys (the viewer's, or everyone's for an admin),
provider keys, custom providers and, for admins, users."""

from __future__ import annotations

from starlette.requests import Request

from services.dashboard.accounts.queries import users
from services.dashboard.keys.queries import api_keys
from services.dashboard.providers.queries import custom_providers, provider_keys
from services.dashboard.web import deps


async def overview_data(request: Request, user_id: int, is_admin: bool) -> dict[str, object]:
    async with deps.pool(request).connection() as conn:
        counts = {
            "apiKeys": await api_keys.count_active(conn, None if is_admin else user_id),
            "providerKeys": await provider_keys.count_all(conn),
            "customProviders": await custom_providers.count_all(conn),
        }
        if is_admin:
            counts["users"] = await users.count(conn)
    return {"counts": counts}
