"""Collector settings, read from the environment in `__main__` (DESIGN.md section 3)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from services.core.discovery import parse_entries, split_entries
from services.core.settings import CoreSettings, require_secret


def _env(name: str, field: str) -> AliasChoices:
    """Read `name` from the environment; tests may also pass the field name."""
    return AliasChoices(name, field)


class CollectorSettings(CoreSettings):
    """Everything `python -m services.collector` needs; secrets are SecretStr."""

    database_url: str = Field(min_length=1)
    proxy_urls: Annotated[tuple[str, ...], NoDecode] = Field(
        validation_alias=_env("PROXY_URL", "proxy_urls"), min_length=1
    )
    collector_api_key: SecretStr
    batch_size: int = Field(
        2000, ge=1, le=10_000, validation_alias=_env("COLLECTOR_BATCH_SIZE", "batch_size")
    )
    idle_interval_s: float = Field(
        5.0, gt=0, validation_alias=_env("COLLECTOR_IDLE_INTERVAL", "idle_interval_s")
    )
    backoff_initial_s: float = Field(
        0.5, gt=0, validation_alias=_env("COLLECTOR_BACKOFF_INITIAL", "backoff_initial_s")
    )
    backoff_max_s: float = Field(
        30.0, gt=0, validation_alias=_env("COLLECTOR_BACKOFF_MAX", "backoff_max_s")
    )
    standby_retry_s: float = Field(
        1.0, gt=0, validation_alias=_env("COLLECTOR_STANDBY_RETRY", "standby_retry_s")
    )
    http_timeout_s: float = Field(
        15.0, gt=0, validation_alias=_env("COLLECTOR_HTTP_TIMEOUT", "http_timeout_s")
    )
    health_host: str = Field(
        "127.0.0.1", validation_alias=_env("COLLECTOR_HEALTH_HOST", "health_host")
    )
    health_port: int = Field(
        8319, ge=0, le=65535, validation_alias=_env("COLLECTOR_HEALTH_PORT", "health_port")
    )
    retention_months: int = Field(
        12, ge=0, validation_alias=_env("USAGE_RETENTION_MONTHS", "retention_months")
    )  # 0 keeps raw events forever; rollups are always kept
    max_future_s: float = Field(
        86_400.0, gt=0, validation_alias=_env("COLLECTOR_MAX_FUTURE", "max_future_s")
    )  # events stamped further ahead than this are set aside (a proxy with a wrong clock)
    stop_grace_s: float = Field(
        10.0, ge=0, validation_alias=_env("COLLECTOR_STOP_GRACE", "stop_grace_s")
    )  # after SIGTERM, the page in hand may finish this long; then its transaction is abandoned
    spend_interval_s: float = Field(
        5.0, gt=0, validation_alias=_env("COLLECTOR_SPEND_INTERVAL", "spend_interval_s")
    )  # how often the spend per key goes to the proxies (budgets; docs/limits.md)
    maintenance_interval_s: float = Field(
        3600.0,
        gt=0,
        validation_alias=_env("COLLECTOR_MAINTENANCE_INTERVAL", "maintenance_interval_s"),
    )

    discovery_interval_s: float = Field(
        10.0, gt=0, validation_alias=_env("PROXY_DISCOVERY_INTERVAL", "discovery_interval_s")
    )  # how often PROXY_URL's dns+http:// names are resolved again

    @field_validator("proxy_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(split_entries(value))
        return value

    @field_validator("proxy_urls")
    @classmethod
    def _http_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        entries = tuple(url.rstrip("/") for url in value)
        if entries:  # min_length reports an empty list
            parse_entries(entries)  # http(s):// or dns+http(s)://NAME:PORT
        return entries

    @model_validator(mode="after")
    def _check_secrets(self) -> Self:
        require_secret("COLLECTOR_API_KEY", self.collector_api_key, min_length=8)
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("COLLECTOR_BACKOFF_MAX must be at least COLLECTOR_BACKOFF_INITIAL")
        return self
