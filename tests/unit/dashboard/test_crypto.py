"""Provider secrets at rest: SecretBox round trip and the versioned text format."""

from __future__ import annotations

import base64
import os

import pytest

from services.core.crypto import CryptoError, is_sealed, seal, unseal

KEY = bytes(range(32))


def test_round_trip_returns_the_plaintext() -> None:
    token = seal(KEY, "sk-ant-secret-value")
    assert unseal(KEY, token) == "sk-ant-secret-value"


def test_format_is_versioned_and_never_contains_the_plaintext() -> None:
    token = seal(KEY, "sk-ant-secret-value")
    assert token.startswith("v1:") and is_sealed(token)
    assert "secret" not in token
    raw = base64.urlsafe_b64decode(token[3:])
    assert len(raw) == 24 + 16 + len("sk-ant-secret-value")  # nonce + tag + ciphertext


def test_each_seal_uses_a_fresh_nonce() -> None:
    assert seal(KEY, "same") != seal(KEY, "same")


def test_wrong_key_is_refused() -> None:
    token = seal(KEY, "value")
    with pytest.raises(CryptoError):
        unseal(os.urandom(32), token)


def test_tampered_ciphertext_is_refused() -> None:
    token = seal(KEY, "value")
    raw = bytearray(base64.urlsafe_b64decode(token[3:]))
    raw[-1] ^= 1
    with pytest.raises(CryptoError):
        unseal(KEY, "v1:" + base64.urlsafe_b64encode(bytes(raw)).decode())


@pytest.mark.parametrize("token", ["v2:abcd", "plaintext", "v1:not base64!!", ""])
def test_unknown_or_garbled_values_are_refused(token: str) -> None:
    with pytest.raises(CryptoError):
        unseal(KEY, token)


def test_short_key_is_refused() -> None:
    with pytest.raises(CryptoError):
        seal(b"short", "value")
