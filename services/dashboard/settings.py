"""Dashboard settings: the environment of DESIGN.md section 3 plus HOST and PORT, validated."""

from __future__ import annotations

import re
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from services.core.discovery import parse_entries, split_entries
from services.core.settings import CoreSettings, require_secret

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class DashboardSettings(CoreSettings):
    """Everything the dashboard reads from its environment; built only in `__main__` and tests."""

    database_url: SecretStr
    jwt_secret: SecretStr
    management_api_key: SecretStr
    provider_encryption_key: SecretStr
    # The key PROVIDER_ENCRYPTION_KEY replaces, during `manage.sh rotate-secrets` only: secrets
    # still sealed with it stay readable until they are re-encrypted.
    provider_encryption_key_old: SecretStr | None = None
    collector_api_key: SecretStr | None = None
    proxy_url: str = "http://127.0.0.1:8317"
    # Seconds between DNS lookups of PROXY_URL's dns+http:// entries (new replicas get the
    # full state within one interval).
    proxy_discovery_interval: float = Field(10.0, gt=0)
    dashboard_url: str = ""
    api_url: str = ""
    docker_host: str = ""
    # The compose project whose containers the dashboard shows and updates (compose passes
    # COMPOSE_PROJECT_NAME); empty = container features report "unavailable".
    compose_project: str = ""
    # How long a recreated container may take to become healthy before it is rolled back.
    update_health_timeout: float = 120.0
    # Seconds between the background checks that feed the notification bell.
    notification_check_interval: float = 30.0
    deploy_secret: SecretStr | None = None
    webhook_host: str = ""
    host: str = "127.0.0.1"
    port: int = 3000
    # Only behind a reverse proxy that overwrites X-Forwarded-For: rate limits then count the
    # client's address instead of the proxy's.
    trust_proxy_headers: bool = False
    session_days: int = 7
    # Whether /api/health expects a collector to lead (HEALTH_COLLECTOR): true wherever the
    # collector runs, as in the compose stack; false for a dashboard deliberately run without.
    health_collector: bool = True
    # Host:port pairs that model discovery may reach although they are private (tests, or a
    # provider on the operator's own network); empty in production.
    fetch_models_allow: str = ""

    @field_validator("proxy_url")
    @classmethod
    def _proxy_urls_are_http(cls, value: str) -> str:
        parse_entries(value)  # http(s):// or dns+http(s)://NAME:PORT entries
        return value

    @field_validator("provider_encryption_key_old", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if value == "" else value  # compose passes an unset variable as ""

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard_url_is_origin(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in {"http", "https"}:
            raise ValueError("DASHBOARD_URL must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _secrets_are_real(self) -> Self:
        require_secret("JWT_SECRET", self.jwt_secret, min_length=32)
        require_secret("MANAGEMENT_API_KEY", self.management_api_key, min_length=16)
        require_secret("DATABASE_URL", self.database_url)
        key = self.provider_encryption_key.get_secret_value()
        if not _HEX64.fullmatch(key):
            raise ValueError("PROVIDER_ENCRYPTION_KEY must be 64 hex characters (32 bytes)")
        old = self.provider_encryption_key_old
        if old is not None and not _HEX64.fullmatch(old.get_secret_value()):
            raise ValueError("PROVIDER_ENCRYPTION_KEY_OLD must be 64 hex characters (32 bytes)")
        if self.collector_api_key is not None:
            require_secret("COLLECTOR_API_KEY", self.collector_api_key, min_length=16)
        return self

    @property
    def proxy_urls(self) -> list[str]:
        """PROXY_URL's entries as written (a `dns+` entry stands for many replicas)."""
        return split_entries(self.proxy_url)

    @property
    def encryption_key(self) -> bytes:
        return bytes.fromhex(self.provider_encryption_key.get_secret_value())

    @property
    def opening_keys(self) -> tuple[bytes, ...]:
        """The keys that open stored secrets: the current one, then the one it replaces."""
        old = self.provider_encryption_key_old
        if old is None:
            return (self.encryption_key,)
        return (self.encryption_key, bytes.fromhex(old.get_secret_value()))

    @property
    def fetch_models_allowed(self) -> frozenset[str]:
        return frozenset(
            item.strip().lower() for item in self.fetch_models_allow.split(",") if item.strip()
        )
