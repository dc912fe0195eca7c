"""Process-level settings of the proxy: secrets from the environment, the config file path."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator

from services.core.settings import CoreSettings, require_secret


class ProxySettings(CoreSettings):
    """Everything the proxy reads from the environment; the rest lives in config.yaml."""

    config_path: Path = Path("config.yaml")
    management_api_key: SecretStr | None = None
    collector_api_key: SecretStr | None = None
    # Seconds a SIGTERM leaves requests and streams in flight to finish (PROXY_SHUTDOWN_GRACE);
    # keep it below the orchestrator's stop timeout (compose: stop_grace_period).
    proxy_shutdown_grace: float = Field(20.0, ge=0, le=3600)
    # Worker processes on the one port (PROXY_WORKERS); unset: `workers:` of config.yaml.
    proxy_workers: int | None = Field(None, ge=1, le=64)

    @model_validator(mode="after")
    def _reject_placeholders(self) -> Self:
        require_secret("MANAGEMENT_API_KEY", self.management_api_key, min_length=16)
        require_secret("COLLECTOR_API_KEY", self.collector_api_key, min_length=16)
        return self

    def secret(self, name: str) -> str:
        value: SecretStr | None = getattr(self, name)
        return value.get_secret_value() if value is not None else ""
