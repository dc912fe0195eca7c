"""Rate limits counted in Postgres, so they hold across replicas and restarts."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from services.core.db import Pool
from services.core.errors import TooManyRequests
from services.dashboard.web.queries import rate_limits


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    limit: int
    window_s: int


LOGIN = Limit("login", 10, 15 * 60)
SETUP = Limit("setup", 3, 15 * 60)
PASSWORD = Limit("password", 5, 15 * 60)
KEY_CREATE = Limit("key-create", 10, 60)
PROVIDER_WRITE = Limit("provider-write", 10, 60)
USER_CREATE = Limit("user-create", 5, 60)
FETCH_MODELS = Limit("fetch-models", 10, 60)


async def enforce(pool: Pool, limit: Limit, subject: str) -> None:
    """Count one attempt by `subject`; 429 with Retry-After once the window's limit is passed."""
    async with pool.connection() as conn:
        hits, seconds_left = await rate_limits.hit(conn, f"{limit.name}:{subject}", limit.window_s)
        if random.random() < 0.01:  # noqa: S311  # housekeeping, not security
            await rate_limits.purge_expired(conn)
    if hits > limit.limit:
        retry = max(1, math.ceil(seconds_left))
        raise TooManyRequests(
            f"too many attempts; try again in {retry} s",
            code="rate_limited",
            headers={"Retry-After": str(retry)},
            details={"retryAfter": retry},
        )
