#!/usr/bin/env python3
"""Database half of the container health probe (healthcheck.sh does HTTP):
`healthcheck.py --database` wants $DATABASE_URL to answer a query; `healthcheck.py --schema
[DIR]` wants it to hold every migration of DIR (default: the image's), which is what a service
started beside the migration task waits for (stack.yml)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

MIGRATIONS = Path("/app/services/core/migrations")


def check_database(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=4) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def check_schema(url: str, migrations: Path) -> bool:
    import psycopg

    wanted = {path.stem for path in migrations.glob("[0-9][0-9][0-9][0-9]_*.sql")}
    try:
        with psycopg.connect(url, connect_timeout=4) as conn:
            rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
    except psycopg.Error:  # no database yet, or no schema_migrations table yet
        return False
    return bool(wanted) and wanted <= {version for (version,) in rows}


def main(argv: list[str]) -> int:
    url = os.environ.get("DATABASE_URL", "")
    if argv == ["--database"]:
        return 0 if check_database(url) else 1
    if argv[:1] == ["--schema"] and len(argv) <= 2:
        return 0 if check_schema(url, Path(argv[1]) if argv[1:] else MIGRATIONS) else 1
    print("usage: healthcheck.py --database | --schema [MIGRATIONS_DIR]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
