"""Client key format and the masked forms of secrets."""

from __future__ import annotations

import re

from services.dashboard.web.secrets_display import (
    digest,
    generate_client_key,
    key_prefix,
    mask_secret,
    masked_prefix,
)


def test_client_key_is_sk_and_48_base62() -> None:
    keys = {generate_client_key() for _ in range(200)}
    assert len(keys) == 200
    assert all(re.fullmatch(r"sk-[A-Za-z0-9]{48}", key) for key in keys)


def test_digest_is_sha256_hex() -> None:
    assert digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_listing_shows_only_the_prefix() -> None:
    key = generate_client_key()
    shown = masked_prefix(key_prefix(key))
    assert shown.startswith(key[:8]) and key[8:] not in shown and len(shown) == 9


def test_provider_secrets_show_at_most_ten_characters() -> None:
    secret = "sk-ant-api03-" + "x" * 40 + "WXYZ"
    shown = mask_secret(secret)
    assert shown == "sk-ant…WXYZ"
    assert mask_secret("abcdefghij") == "…ij"
    assert mask_secret("abc") == "••••"
