"""Property tests of the door through the real proxy app, every client endpoint in front of every
upstream kind (fake upstreams): generated valid bodies are served; mutated ones (wrong types,
missing fields, deep nesting) get a 4xx in the client's own error format, never a 5xx.

Hypothesis drives synchronous tests, so the proxy and the fakes run in an event loop of their
own thread for the whole module.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.clis.gateway import CLIENT_KEYS, KINDS, Gateway, gateway
from tests.unit.proxy.translate import request_strategies as bodies

HEADERS = {"Authorization": f"Bearer {CLIENT_KEYS['claude']}"}
UPSTREAMS = list(KINDS)
PROPERTY = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class Background:
    """The gateway (four fakes and the proxy) in an event loop on its own thread."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._context = gateway(tmp)
        self.gateway: Gateway

    def __enter__(self) -> Background:
        self.thread.start()
        self.gateway = self._run(self._context.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        self._run(self._context.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with Background(tmp_path_factory.mktemp("door")) as background:
        url = background.gateway.base_url
        with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as http:
            yield http


def _alias(kind: str) -> str:
    return KINDS[kind][2]


# endpoint -> (client format, path for a model alias, valid-body strategy for that alias)
ENDPOINTS: dict[str, tuple[str, Callable[[str], str], Callable[[str], Any]]] = {
    "chat": ("openai", lambda m: "/v1/chat/completions", bodies.chat),
    "completions": ("openai", lambda m: "/v1/completions", bodies.completions),
    "responses": ("openai", lambda m: "/v1/responses", bodies.responses),
    "messages": ("anthropic", lambda m: "/v1/messages", bodies.messages),
    "count_tokens": (
        "anthropic",
        lambda m: "/v1/messages/count_tokens",
        lambda m: bodies.messages(m, counting=True),
    ),
    "generate": (
        "gemini",
        lambda m: f"/v1beta/models/{m}:generateContent",
        lambda m: bodies.generate(),
    ),
    "gemini_count": (
        "gemini",
        lambda m: f"/v1beta/models/{m}:countTokens",
        lambda m: bodies.generate(counting=True),
    ),
}
CASES = [(endpoint, kind) for endpoint in ENDPOINTS for kind in UPSTREAMS]


def _send(client: httpx.Client, endpoint: str, kind: str, body: Any) -> httpx.Response:
    _, path, _ = ENDPOINTS[endpoint]
    return client.post(path(_alias(kind)), json=body)


def assert_client_error(fmt: str, response: httpx.Response) -> None:
    """A 4xx body in the format the client's SDK parses."""
    body = response.json()
    error = body["error"]
    assert isinstance(error["message"], str) and error["message"]
    if fmt == "anthropic":
        assert body["type"] == "error" and isinstance(error["type"], str)
    elif fmt == "gemini":
        assert error["code"] == response.status_code and isinstance(error["status"], str)
    else:
        assert isinstance(error["type"], str)


@pytest.mark.parametrize(("endpoint", "kind"), CASES)
@PROPERTY
@given(data=st.data())
def test_valid_bodies_are_served(client, endpoint, kind, data):
    body = data.draw(ENDPOINTS[endpoint][2](_alias(kind)))
    response = _send(client, endpoint, kind, body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("endpoint", "kind"), CASES)
@PROPERTY
@given(data=st.data())
def test_mutated_bodies_never_get_a_5xx(client, endpoint, kind, data):
    fmt, _, valid = ENDPOINTS[endpoint]
    body = data.draw(bodies.mutated(valid(_alias(kind))))
    response = _send(client, endpoint, kind, body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_client_error(fmt, response)
