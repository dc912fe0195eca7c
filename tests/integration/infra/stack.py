"""Paths and helpers shared by the infrastructure tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
INFRA = REPO / "infrastructure"
BIN = Path(sys.executable).parent
SECRETS = (
    "POSTGRES_PASSWORD",
    "JWT_SECRET",
    "MANAGEMENT_API_KEY",
    "COLLECTOR_API_KEY",
    "PROVIDER_ENCRYPTION_KEY",
)
OAUTH_PORTS = {8085, 1455, 54545, 51121, 11451}


def dummy_env(path: Path) -> Path:
    """A .env built from .env.example with non-placeholder values for every secret."""
    lines = []
    for line in (INFRA / ".env.example").read_text().splitlines():
        key = line.split("=", 1)[0]
        if key in SECRETS:
            line = f"{key}={'ab' * 32}"
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    return path


def compose(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "docker-compose"),
            "--project-directory", str(INFRA),
            "-f", str(INFRA / "docker-compose.yml"),
            "--env-file", str(env_file),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=INFRA,
    )  # fmt: skip


def compose_model(env_file: Path) -> dict:
    result = compose(env_file, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
