"""Settings shared by every service: logging knobs and secret validation helpers."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values that .env.example ships with; a service refuses to start on any of them.
PLACEHOLDERS = frozenset(
    {"", "changeme", "change-me", "replace-me", "CHANGE_ME", "your-secret-here"}
)


class CoreSettings(BaseSettings):
    """Base of every service's settings; read from the environment only in `__main__`."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"


def require_secret(name: str, value: SecretStr | None, *, min_length: int = 1) -> None:
    """Raise ValueError naming the variable when a secret is unset, a placeholder or too short."""
    if value is None:
        return
    raw = value.get_secret_value()
    if raw in PLACEHOLDERS or raw.startswith("<") or "change" in raw.lower():
        raise ValueError(f"{name} is unset or still the .env.example placeholder")
    if len(raw) < min_length:
        raise ValueError(f"{name} must be at least {min_length} characters long")
