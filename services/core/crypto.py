"""Secrets at rest: PyNaCl SecretBox in a versioned text format (`seal` / `unseal`).

Format: ``v1:`` followed by URL-safe base64 of nonce (24 bytes) + ciphertext with its
Poly1305 tag. The version prefix lets a later format (another cipher, a key id for rotation)
be read beside this one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

import nacl.exceptions
import nacl.secret
import nacl.utils

VERSION = "v1"
_PREFIX = f"{VERSION}:"


class CryptoError(ValueError):
    """Raised when a sealed value cannot be opened: wrong key, corrupted data, unknown version."""


def seal(key: bytes, plaintext: str) -> str:
    """Encrypt `plaintext` with the 32-byte `key`; each call uses a fresh random nonce."""
    box = nacl.secret.SecretBox(_check_key(key))
    sealed = box.encrypt(plaintext.encode("utf-8"))  # nonce + ciphertext + tag
    return _PREFIX + base64.urlsafe_b64encode(bytes(sealed)).decode("ascii")


def unseal(key: bytes, token: str) -> str:
    """Decrypt a value made by `seal`; raises CryptoError when it cannot be opened."""
    if not token.startswith(_PREFIX):
        raise CryptoError("unknown sealed-value version")
    try:
        raw = base64.urlsafe_b64decode(token[len(_PREFIX) :].encode("ascii"))
        plain = nacl.secret.SecretBox(_check_key(key)).decrypt(raw)
    except (binascii.Error, ValueError, nacl.exceptions.CryptoError) as exc:
        raise CryptoError("sealed value cannot be opened with this key") from exc
    return plain.decode("utf-8")


def unseal_any(keys: Sequence[bytes], token: str) -> str:
    """`unseal` with the first of `keys` that opens `token` (the current key, then the one a
    rotation replaces); raises CryptoError when none does."""
    for key in keys:
        try:
            return unseal(key, token)
        except CryptoError:
            continue
    raise CryptoError("sealed value cannot be opened with any key")


def is_sealed(value: str) -> bool:
    """True when `value` looks like the output of `seal` (used to assert nothing is plaintext)."""
    return value.startswith(_PREFIX)


def _check_key(key: bytes) -> bytes:
    if len(key) != nacl.secret.SecretBox.KEY_SIZE:
        raise CryptoError(f"key must be {nacl.secret.SecretBox.KEY_SIZE} bytes")
    return key
