"""Numbered, forward-only SQL migrations, applied under an advisory lock.

`python -m services.core.migrate` reads DATABASE_URL; services, `make run` and the test harness
call `migrate(dsn)`. Several callers at once are safe: exactly one applies each file.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import structlog

from services.core.db import connect
from services.core.logging import configure_logging

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant shared by every caller of migrate(); distinct from the collector's leader lock.
MIGRATION_LOCK_KEY = 7_402_211


def read_migrations(directory: Path = MIGRATIONS_DIR) -> list[tuple[str, str]]:
    """Return (version, sql) pairs in apply order; a version is a file stem like 0003_usage."""
    files = sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    return [(path.stem, path.read_text(encoding="utf-8")) for path in files]


async def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations, each in its own transaction; return the versions applied."""
    migrations = await asyncio.to_thread(read_migrations, directory)
    applied: list[str] = []
    async with await connect(dsn, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT version FROM schema_migrations")
        done = {version for (version,) in await cur.fetchall()}
        for version, script in migrations:
            if version in done:
                continue
            async with conn.transaction():  # a failing file leaves no trace
                await conn.execute(script.encode())
                await conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES (%s)", (version,)
                )
            log.info("migration_applied", version=version)
            applied.append(version)
    return applied  # closing the connection released the advisory lock


def main() -> None:
    """Entry point of `python -m services.core.migrate`."""
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "json"))
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        sys.exit("DATABASE_URL is not set")
    applied = asyncio.run(migrate(dsn))
    log.info("migrations_done", applied=len(applied))


if __name__ == "__main__":
    main()
