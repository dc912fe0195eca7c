"""Fixtures of the operator pages' tests: the tables of migration 0006 emptied per test."""

from __future__ import annotations

import psycopg
import pytest


@pytest.fixture
def dashboard_db(module_database_url: str) -> str:
    with psycopg.connect(module_database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE users, sessions, rate_limit_counters, system_settings, audit_log,"
            " deploys, webhook_signatures, notifications, notification_dismissals"
            " RESTART IDENTITY CASCADE"
        )
    return module_database_url


def audit_rows(dsn: str, action: str) -> list[tuple[str | None, dict[str, object]]]:
    """(target, metadata) of every audit entry of `action`, oldest first."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT target, metadata FROM audit_log WHERE action = %s ORDER BY id", (action,)
        ).fetchall()
    return [(r[0], r[1]) for r in rows]
