"""Where the proxy keeps its files: siblings of config.yaml unless the config names them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .model import ProxyConfig


@dataclass(frozen=True, slots=True)
class ProxyPaths:
    config: Path
    auths: Path
    usage: Path
    state: Path
    logs: Path

    @classmethod
    def resolve(cls, config_path: Path, config: ProxyConfig) -> ProxyPaths:
        base = config_path.resolve().parent

        def pick(value: str, default: str) -> Path:
            path = Path(value).expanduser() if value else base / default
            return path if path.is_absolute() else base / path

        return cls(
            config=config_path.resolve(),
            auths=pick(config.auth_dir, "auths"),
            usage=pick(config.usage_dir, "usage"),
            state=pick(config.state_dir, "state"),
            logs=pick(config.logs_dir, "logs"),
        )

    def create(self) -> None:
        for folder in (self.auths, self.usage, self.state, self.logs):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
