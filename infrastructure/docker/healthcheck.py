#!/usr/bin/env python3
"""Container health probe: `gateway-healthcheck [URL]` wants an HTTP 2xx from URL (default
$HEALTHCHECK_URL); `gateway-healthcheck --database` wants $DATABASE_URL to answer a query."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def check_url(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - fixed local URL
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


def check_database(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=4) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def main(argv: list[str]) -> int:
    if argv[:1] == ["--database"]:
        healthy = check_database(os.environ.get("DATABASE_URL", ""))
    else:
        healthy = check_url(argv[0] if argv else os.environ.get("HEALTHCHECK_URL", ""))
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
