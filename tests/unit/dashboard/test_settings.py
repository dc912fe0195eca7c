"""Dashboard settings: placeholder and short secrets are refused with the variable's name."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.dashboard.settings import DashboardSettings

GOOD: dict[str, Any] = {
    "database_url": "postgresql://u:p@127.0.0.1:5432/db",
    "jwt_secret": "j" * 32,
    "management_api_key": "m" * 16,
    "provider_encryption_key": "ab" * 32,
}


def build(**over: Any) -> DashboardSettings:
    return DashboardSettings.model_validate({**GOOD, **over})


def test_defaults() -> None:
    settings = build()
    assert (settings.host, settings.port) == ("127.0.0.1", 3000)
    assert settings.proxy_urls == ["http://127.0.0.1:8317"]
    assert settings.encryption_key == bytes.fromhex("ab" * 32)


@pytest.mark.parametrize(
    ("field", "value", "name"),
    [
        ("jwt_secret", "short", "JWT_SECRET"),
        ("jwt_secret", "changeme", "JWT_SECRET"),
        ("management_api_key", "tooshort", "MANAGEMENT_API_KEY"),
        ("management_api_key", "<generate-me-please>", "MANAGEMENT_API_KEY"),
        ("provider_encryption_key", "zz" * 32, "PROVIDER_ENCRYPTION_KEY"),
        ("provider_encryption_key", "ab" * 16, "PROVIDER_ENCRYPTION_KEY"),
        ("collector_api_key", "short", "COLLECTOR_API_KEY"),
        ("proxy_url", "ftp://proxy", "PROXY_URL"),
    ],
)
def test_bad_values_name_the_variable(field: str, value: str, name: str) -> None:
    with pytest.raises(ValidationError, match=name):
        build(**{field: value})


def test_several_proxies() -> None:
    assert build(proxy_url="http://a:8317, http://b:8317/").proxy_urls == [
        "http://a:8317",
        "http://b:8317",
    ]


def test_dns_entries_mix_with_fixed_ones_and_need_a_port() -> None:
    mixed = build(
        proxy_url="dns+http://tasks.proxy:8317, http://b:8317", proxy_discovery_interval=2
    )
    assert mixed.proxy_urls == ["dns+http://tasks.proxy:8317", "http://b:8317"]
    assert build().proxy_discovery_interval == 10.0
    with pytest.raises(ValidationError, match="needs a port"):
        build(proxy_url="dns+http://tasks.proxy")
    with pytest.raises(ValidationError, match="proxy_discovery_interval"):
        build(proxy_discovery_interval=0)


def test_an_old_encryption_key_is_accepted_during_a_rotation() -> None:
    """PROVIDER_ENCRYPTION_KEY_OLD: set, it opens secrets after the current key; compose passes
    it as an empty string when unset."""
    rotating = build(provider_encryption_key_old="cd" * 32)
    assert rotating.opening_keys == (bytes.fromhex("ab" * 32), bytes.fromhex("cd" * 32))
    empty = build(provider_encryption_key_old="")
    assert empty.opening_keys == (bytes.fromhex("ab" * 32),)
    with pytest.raises(ValidationError, match="PROVIDER_ENCRYPTION_KEY_OLD"):
        build(provider_encryption_key_old="zz" * 32)
