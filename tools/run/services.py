"""Which services `make run` starts, with what command line and environment.

A service is started only when its package exists, so `make run` works at every stage of the
project. Environment variables already set by the caller win over generated values.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .supervisor import Service

ALL_SERVICES = ("proxy", "collector", "dashboard")
# The proxy keeps its state in files; only these need Postgres (and migrations).
NEEDS_DATABASE = frozenset({"collector", "dashboard"})


@dataclass(frozen=True)
class Ports:
    host: str
    proxy: int
    collector: int
    dashboard: int

    def url(self, port: int, path: str = "") -> str:
        return f"http://{self.host}:{port}{path}"


def available(repo: Path) -> list[str]:
    return [n for n in ALL_SERVICES if (repo / "services" / n / "__main__.py").exists()]


def has_migrations(repo: Path) -> bool:
    return (repo / "services" / "core" / "migrate.py").exists()


def base_env(secrets: dict[str, str]) -> dict[str, str]:
    """The caller's environment plus generated secrets, plus dev-friendly logging."""
    env = {k: v for k, v in secrets.items() if k != "LOCAL_CLIENT_KEY"} | dict(os.environ)
    env.setdefault("LOG_LEVEL", "INFO")
    env.setdefault("LOG_FORMAT", "console")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def build(
    name: str, *, env: dict[str, str], ports: Ports, database_url: str | None, proxy_config: Path
) -> Service:
    """The Service for one of ALL_SERVICES."""
    python = sys.executable
    proxy_url = ports.url(ports.proxy)
    db = {"DATABASE_URL": database_url} if database_url else {}
    if name == "proxy":
        argv = [python, "-m", "services.proxy", "--config", str(proxy_config)]
        return Service(name, argv, env, ports.url(ports.proxy, "/healthz"))
    if name == "collector":
        extra = {
            "PROXY_URL": proxy_url,
            "COLLECTOR_HEALTH_HOST": ports.host,
            "COLLECTOR_HEALTH_PORT": str(ports.collector),
        }
        return Service(
            name,
            [python, "-m", "services.collector"],
            env | db | extra,
            ports.url(ports.collector, "/healthz"),
        )
    if name == "dashboard":
        dashboard_url = ports.url(ports.dashboard)
        extra = {
            "PROXY_URL": proxy_url,
            "HOST": ports.host,
            "PORT": str(ports.dashboard),
            "DASHBOARD_URL": env.get("DASHBOARD_URL", dashboard_url),
            "API_URL": env.get("API_URL", proxy_url),
        }
        return Service(
            name,
            [python, "-m", "services.dashboard"],
            env | db | extra,
            ports.url(ports.dashboard, "/api/health"),
        )
    raise ValueError(f"unknown service {name!r}")
