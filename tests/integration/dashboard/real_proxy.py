"""Helpers to run the real proxy process and a threaded fake OpenAI upstream in sync tests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.fakes.openai_upstream import FakeOpenAI
from tests.integration.dashboard.conftest import MGMT_KEY

REPO = Path(__file__).resolve().parents[3]


class RealProxy:
    def __init__(
        self,
        folder: Path,
        extra: dict[str, object] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        """`host` may be any 127/8 address: replicas found by DNS share one port."""
        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        self.auth_dir = folder / "auths"
        self.config_path = folder / "config.yaml"
        config = {"host": host, "port": self.port, "api-keys": [], "request-retry": 0}
        self.config_path.write_text(json.dumps({**config, **(extra or {})}))
        self.log_path = folder / "proxy.log"
        env = {
            **os.environ,
            "MANAGEMENT_API_KEY": MGMT_KEY,
            "COLLECTOR_API_KEY": "collector-key-0123456789",
            "LOG_FORMAT": "console",
        }
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.proxy", "--config", str(self.config_path)],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=log,
            )
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("proxy exited:\n" + self.log_path.read_text())
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("proxy did not start")

    def management(self, path: str) -> object:
        response = httpx.get(
            f"{self.url}/v0/management/{path}", headers={"Authorization": f"Bearer {MGMT_KEY}"}
        )
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class ThreadedUpstream:
    """FakeOpenAI running in its own thread and event loop (the tests here are synchronous)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = asyncio.run_coroutine_threadsafe(self._make(), self.loop).result(10)

    async def _make(self) -> FakeOpenAI:
        fake = FakeOpenAI(models=["gpt-test"])
        await fake.start()
        return fake

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def chat(proxy: RealProxy, key: str, model: str = "gpt-test") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(
        f"{proxy.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def eventually(check: Callable[[], bool], limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
