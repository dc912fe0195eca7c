"""The whole product as processes (`python -m tools.run`: Postgres, migrations, proxy, collector,
dashboard) in front of a fake upstream: set up the admin, add a provider and a client key in the
dashboard, call the proxy with the openai SDK, and find the request in the usage API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import free_port
from tests.fakes.openai_upstream import FakeOpenAI, Reply
from tests.integration.run.harness import (
    RunProcess,
    make_state_dir,
    processes_mentioning,
    remove_state_dir,
)
from tools.run.state import read_env_file

ADMIN = {"username": "admin", "password": "correct horse battery"}


class ThreadedFake:
    """FakeOpenAI on its own event loop thread, so synchronous tests can drive everything."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.fake = FakeOpenAI()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.__aenter__(), self.loop).result(10)
        return self.fake

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.__aexit__(None, None, None), self.loop).result(
            10
        )
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def stack() -> Iterator[tuple[dict[str, int], Path]]:
    state = make_state_dir()
    ports = {name: free_port() for name in ("proxy", "collector", "dashboard", "pg")}
    args = ["--state-dir", str(state), "--pg-option", "fsync=off"]
    for name in ("proxy", "collector", "dashboard", "pg"):
        args += [f"--{name}-port", str(ports[name])]
    run = RunProcess(args)
    try:
        run.wait_for(r"^run\s+\|\s+ready$", timeout=120)  # not Postgres' "ready to accept"
        yield ports, state
    finally:
        with contextlib.suppress(Exception):
            run.interrupt(timeout=60)
        if run.proc.stdout is not None:
            run.proc.stdout.close()
        for pid in processes_mentioning(str(state)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        remove_state_dir(state)


def _eventually(check, limit: float = 20.0):
    deadline = time.monotonic() + limit
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)  # a separate process changes state; there is no event to await


def test_request_through_the_proxy_shows_up_in_the_dashboard(stack) -> None:
    """Setup, provider, client key, an SDK call, collect: the usage API shows the request."""
    ports, state = stack
    dashboard = f"http://127.0.0.1:{ports['dashboard']}"
    proxy = f"http://127.0.0.1:{ports['proxy']}"
    secrets = read_env_file(state / "secrets.env")
    with (
        ThreadedFake() as fake,
        httpx.Client(base_url=dashboard, headers={"Origin": dashboard}, timeout=30) as web,
    ):
        fake.default = Reply(text="hello from upstream", prompt_tokens=13, completion_tokens=4)
        assert web.get("/api/setup").json()["data"]["setupRequired"] is True
        assert web.post("/api/setup", json=ADMIN).status_code == 201
        # The fake upstream listens on loopback: allowed only once an admin says so.
        allow = {"key": "allow_private_upstreams", "value": True}
        assert web.put("/api/admin/settings", json=allow).status_code == 200
        created = web.post(
            "/api/custom-providers",
            json={
                "name": "Fake upstream",
                "providerId": "fake-upstream",
                "baseUrl": fake.base_url,
                "apiKey": "sk-upstream-secret-key-123456",
                "models": [{"upstreamName": "gpt-fake", "alias": "team-model"}],
            },
        )
        assert created.status_code == 201, created.text
        key = web.post("/api/user/api-keys", json={"name": "e2e"}).json()["data"]["key"]

        client = openai.OpenAI(base_url=proxy + "/v1", api_key=key, max_retries=0)

        def answered() -> str | None:
            try:
                reply = client.chat.completions.create(
                    model="team-model", messages=[{"role": "user", "content": "hi"}]
                )
            except (openai.AuthenticationError, openai.NotFoundError):
                return None  # the dashboard's push to the proxy is still on its way
            return reply.choices[0].message.content

        assert _eventually(answered) == "hello from upstream"
        client.close()
        assert fake.requests[-1].api_key == "sk-upstream-secret-key-123456"

        collect = httpx.post(
            f"{dashboard}/api/usage/collect",
            headers={"Authorization": f"Bearer {secrets['COLLECTOR_API_KEY']}"},
        )
        assert collect.status_code == 202, collect.text

        def recorded() -> dict | None:
            history = web.get("/api/usage/history", params={"window": "24h"}).json()["data"]
            return history if history["totals"]["requests"] >= 1 else None

        history = _eventually(recorded)
    assert history["totals"]["requests"] == 1
    assert history["totals"]["inputTokens"] == 13
    assert history["totals"]["outputTokens"] == 4
