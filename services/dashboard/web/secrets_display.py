"""Client key generation and the masked forms in which secrets are ever shown."""

from __future__ import annotations

import hashlib
import secrets
import string

_BASE62 = string.ascii_letters + string.digits
KEY_BODY_LENGTH = 48
PREFIX_LENGTH = 8  # "sk-" and five characters: enough to tell keys apart, useless to an attacker


def generate_client_key() -> str:
    """A new client API key: `sk-` followed by 48 random base62 characters."""
    return "sk-" + "".join(secrets.choice(_BASE62) for _ in range(KEY_BODY_LENGTH))


def digest(secret: str) -> str:
    """Hex SHA-256 of a secret: what is stored for client keys and pushed as `sha256:<hex>`."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    return key[:PREFIX_LENGTH]


def masked_prefix(prefix: str) -> str:
    """How a stored client key is listed: its display prefix and an ellipsis."""
    return f"{prefix}…"


def mask_secret(secret: str) -> str:
    """A provider secret as shown after creation: never more than 10 of its characters."""
    if len(secret) >= 20:
        return f"{secret[:6]}…{secret[-4:]}"
    if len(secret) >= 8:
        return f"…{secret[-2:]}"
    return "••••"
