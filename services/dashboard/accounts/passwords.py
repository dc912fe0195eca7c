"""Password hashing (Argon2id through PyNaCl) and the username and password rules."""

from __future__ import annotations

import asyncio
import re

import nacl.exceptions
import nacl.pwhash

from services.core.errors import ValidationFailed

USERNAME = re.compile(r"[A-Za-z0-9_-]{3,50}")
MIN_PASSWORD, MAX_PASSWORD = 8, 256
# Verifying against this when the user does not exist keeps the answer time the same, so
# response timing does not tell which usernames exist.
_DUMMY_HASH = nacl.pwhash.argon2id.str(b"not-a-real-password").decode("ascii")


def check_username(username: object) -> str:
    """Return the username if it has 3-50 characters of [A-Za-z0-9_-], else raise."""
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise ValidationFailed(
            "username must be 3-50 characters: letters, digits, '_' or '-'",
            details=[{"field": "username", "message": "invalid username"}],
        )
    return username


def check_password(password: object, field: str = "password") -> str:
    """Return the password if its length is acceptable, else raise naming `field`."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationFailed(
            f"password must be {MIN_PASSWORD}-{MAX_PASSWORD} characters",
            details=[{"field": field, "message": "invalid length"}],
        )
    return password


async def hash_password(password: str) -> str:
    """Argon2id hash in the PHC string format; runs in a thread (it takes ~0.1 s on purpose)."""
    raw = await asyncio.to_thread(nacl.pwhash.argon2id.str, password.encode("utf-8"))
    return raw.decode("ascii")


async def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; a missing user still costs one verification."""
    candidate = (stored or _DUMMY_HASH).encode("ascii")
    try:
        await asyncio.to_thread(nacl.pwhash.verify, candidate, password.encode("utf-8"))
    except nacl.exceptions.InvalidkeyError:
        return False
    return stored is not None
