"""`python -m services.dashboard.rotate`: the database side of `manage.sh rotate-secrets`.

In one transaction it re-encrypts every stored secret with PROVIDER_ENCRYPTION_KEY (opening
each with that key or PROVIDER_ENCRYPTION_KEY_OLD, the key being replaced), ends every
dashboard session and writes an audit entry. A secret neither key opens aborts the whole
transaction and is named, so nothing is left half re-encrypted; a second run after a
success changes nothing but the sessions.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

from psycopg import sql

from services.core.crypto import CryptoError, seal, unseal, unseal_any
from services.core.db import Connection, connect
from services.dashboard.__main__ import load_settings
from services.dashboard.accounts.queries import audit_log
from services.dashboard.settings import DashboardSettings

# Every column that holds a value made by `seal`, with its table.
SEALED_COLUMNS = (("provider_keys", "secret_encrypted"), ("custom_providers", "api_key_encrypted"))


class RotationError(RuntimeError):
    """A stored secret that neither key opens; the transaction is rolled back."""


@dataclass(frozen=True, slots=True)
class Rotated:
    resealed: int  # secrets re-encrypted with the new key
    current: int  # secrets already sealed with it
    sessions_ended: int


async def reseal_column(
    conn: Connection, table: str, column: str, keys: tuple[bytes, ...]
) -> tuple[int, int]:
    """Re-encrypt one column with keys[0]; (re-encrypted, already current)."""
    query = sql.SQL("SELECT id, {c} FROM {t} WHERE {c} IS NOT NULL FOR UPDATE").format(
        c=sql.Identifier(column), t=sql.Identifier(table)
    )
    update = sql.SQL("UPDATE {t} SET {c} = %s WHERE id = %s").format(
        c=sql.Identifier(column), t=sql.Identifier(table)
    )
    resealed = current = 0
    for row_id, sealed in await (await conn.execute(query)).fetchall():
        if _opens(keys[0], sealed):
            current += 1
            continue
        try:
            plain = unseal_any(keys[1:], sealed)
        except CryptoError:
            raise RotationError(f"{table} id {row_id}: {column} opens with neither key") from None
        await conn.execute(update, (seal(keys[0], plain), row_id))
        resealed += 1
    return resealed, current


def _opens(key: bytes, sealed: str) -> bool:
    try:
        unseal(key, sealed)
    except CryptoError:
        return False
    return True


async def end_sessions(conn: Connection) -> int:
    cur = await conn.execute("UPDATE sessions SET revoked_at = now() WHERE revoked_at IS NULL")
    return cur.rowcount


async def rotate(conn: Connection, keys: tuple[bytes, ...]) -> Rotated:
    """Everything in one transaction on `conn`."""
    resealed = current = 0
    async with conn.transaction():
        for table, column in SEALED_COLUMNS:
            done, kept = await reseal_column(conn, table, column, keys)
            resealed, current = resealed + done, current + kept
        ended = await end_sessions(conn)
        result = Rotated(resealed, current, ended)
        await audit_log.insert(conn, _audit_entry(result))
    return result


def _audit_entry(result: Rotated) -> audit_log.NewAuditEntry:
    return audit_log.NewAuditEntry(
        action="SECRETS_ROTATED",
        actor_user_id=None,
        actor_username="manage.sh",
        target_type="secrets",
        target="all",
        metadata={
            "resealed": result.resealed,
            "alreadyCurrent": result.current,
            "sessionsEnded": result.sessions_ended,
        },
        ip_address=None,
        user_agent=None,
    )


async def run(settings: DashboardSettings) -> Rotated:
    async with await connect(settings.database_url.get_secret_value(), autocommit=True) as conn:
        return await rotate(conn, settings.opening_keys)


def main() -> int:
    try:
        result = asyncio.run(run(load_settings()))
    except RotationError as exc:
        print(f"rotate: {exc}; nothing was changed", file=sys.stderr)
        return 1
    print(
        f"rotate: {result.resealed} secret(s) re-encrypted, {result.current} already current,"
        f" {result.sessions_ended} session(s) ended"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
