#!/usr/bin/env python3
"""Database half of the container health probe (healthcheck.sh does HTTP):
`healthcheck.py --database` wants $DATABASE_URL to answer a query."""

from __future__ import annotations

import os
import sys


def check_database(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=4) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def main(argv: list[str]) -> int:
    if argv[:1] != ["--database"]:
        print("usage: healthcheck.py --database", file=sys.stderr)
        return 2
    return 0 if check_database(os.environ.get("DATABASE_URL", "")) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
