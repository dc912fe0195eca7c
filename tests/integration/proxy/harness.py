"""Run the real proxy for tests: in-process (served as `python -m services.proxy` does) or as
a process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from services.proxy.config.store import ConfigStore
from services.proxy.http.app import create_app
from services.proxy.http.serving import start_serving
from services.proxy.settings import ProxySettings
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[3]
CLIENT_KEY = "sk-test-client-key-0123456789"
MANAGEMENT_KEY = "mgmt-key-for-tests-0123456789"
COLLECTOR_KEY = "collector-key-for-tests-012345"


def compat_config(base_url: str, keys: list[str], *, models=None, **extra: Any) -> dict[str, Any]:
    """A config with one OpenAI-compatible provider, one credential per key."""
    config: dict[str, Any] = {
        "api-keys": [CLIENT_KEY],
        "openai-compatibility": [
            {
                "name": "fake",
                "base-url": base_url,
                "api-key-entries": [{"api-key": k} for k in keys],
                "models": models
                or [{"name": "gpt-test"}, {"name": "gpt-test", "alias": "alias-model"}],
            }
        ],
        "streaming": {"keepalive-seconds": 0, "bootstrap-retries": 1},
        "request-retry": 0,
    }
    config.update(extra)
    return config


def write_config(path: Path, config: dict[str, Any]) -> None:
    """JSON is YAML: write atomically so the watcher never sees half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config, indent=2))
    os.replace(tmp, path)


def settings_for(config_path: Path) -> ProxySettings:
    return ProxySettings(
        config_path=config_path,
        management_api_key=MANAGEMENT_KEY,
        collector_api_key=COLLECTOR_KEY,
        log_format="console",
    )


class InProcessProxy:
    def __init__(
        self, app: web.Application, runner: web.AppRunner, port: int, config_path: Path
    ) -> None:
        self.app = app
        self.runner = runner
        self.port = port
        self.config_path = config_path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rewrite(self, config: dict[str, Any]) -> None:
        write_config(self.config_path, config)


@asynccontextmanager
async def run_proxy(tmp: Path, config: dict[str, Any]) -> AsyncIterator[InProcessProxy]:
    """The proxy app on a free port in this event loop, served as `python -m services.proxy`
    serves it (both server lanes, client-disconnect cancellation)."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "config.yaml"
    write_config(path, config)
    store = ConfigStore(path, poll_interval=0.05)
    app = create_app(settings_for(path), store)
    port = free_port()
    runner = await start_serving(app, "127.0.0.1", port)
    try:
        yield InProcessProxy(app, runner, port, path)
    finally:
        await runner.cleanup()


def spawn_logged(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a child whose output goes to `log_path` (the child keeps its own copy of the fd)."""
    with log_path.open("ab") as log:
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=log)


class ProxyProcess:
    """`python -m services.proxy` as a child process, for crash and restart tests."""

    def __init__(self, config_path: Path, env: dict[str, str] | None = None) -> None:
        self.config_path = config_path
        self.extra_env = env or {}
        self.port = json.loads(config_path.read_text())["port"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = config_path.parent / "proxy.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, limit: float = 20) -> None:
        env = {
            **os.environ,
            "MANAGEMENT_API_KEY": MANAGEMENT_KEY,
            "COLLECTOR_API_KEY": COLLECTOR_KEY,
            "LOG_FORMAT": "json",
            **self.extra_env,
        }
        self.proc = spawn_logged(
            [sys.executable, "-m", "services.proxy", "--config", str(self.config_path)],
            env,
            self.log_path,
        )
        await wait_healthy(self.base_url, self.proc, limit)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@asynccontextmanager
async def proxy_process(
    tmp: Path, config: dict[str, Any], env: dict[str, str] | None = None, limit: float = 20
) -> AsyncIterator[ProxyProcess]:
    """`python -m services.proxy` on a free port with `config` (and `env`), stopped afterwards;
    `limit`: seconds it may take to answer /healthz."""
    path = tmp / "config.yaml"
    write_config(path, {**config, "port": free_port()})
    proc = ProxyProcess(path, env)
    await proc.start(limit)
    try:
        yield proc
    finally:
        proc.stop()


async def wait_healthy(
    base_url: str, proc: subprocess.Popen[bytes] | None = None, limit: float = 20
) -> None:
    deadline = time.monotonic() + limit
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode}")
            try:
                async with session.get(f"{base_url}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)  # polling a process we just started; no event to await
    raise TimeoutError(f"{base_url} did not become healthy")


async def eventually(predicate, limit: float = 5.0, interval: float = 0.02):
    """Poll `predicate` (sync or async) until it returns a truthy value or time runs out."""
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
