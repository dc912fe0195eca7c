"""What the Anthropic, Gemini and Responses fakes share: scripted replies, recorded requests,
and an aiohttp server usable in-process (`async with Fake() as f`) or as `python -m`.

The wire formats themselves are written out by hand in each fake, independently of
services.proxy.translate, so the fakes can catch the translator's mistakes.
"""

from __future__ import annotations

import argparse
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import provider_rules


@dataclass
class Reply:
    """One scripted answer. Without a script the fake answers with the default Reply()."""

    text: str = "Hello from the fake upstream."
    tool: tuple[str, dict[str, Any]] | None = None  # (name, arguments): answer with a tool call
    thinking: str | None = None
    status: int = 200
    error: str = "scripted failure"  # message when status != 200
    input_tokens: int = 11
    output_tokens: int = 7
    cached_tokens: int = 0
    chunk: int = 4  # characters per streamed delta
    fail_mid_stream: bool = False  # stream: send the first delta, then an in-stream error
    stop: str | None = None  # force a stop reason in the fake's own vocabulary

    def pieces(self, text: str) -> list[str]:
        return [text[i : i + self.chunk] for i in range(0, len(text), self.chunk)] or [""]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeServer:
    """Base of the fakes: subclasses add routes in `routes()`."""

    api_key: str | None = None  # when set, requests must carry it
    strict: bool = True  # refuse bodies the real provider refuses (tests.fakes.provider_rules)
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)
    script: deque[Reply] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None

    # --- scripting
    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def next_reply(self) -> Reply:
        return self.script.popleft() if self.script else Reply()

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    # --- lifecycle
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.add_routes(self.routes())
        return app

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    async def __aenter__(self) -> FakeServer:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- helpers for subclasses
    async def record(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        return body

    def problem(self, fmt: str, body: Any, model: str = "") -> str | None:
        """The first rule of the real provider that `body` breaks, or None."""
        if not self.strict:
            return None
        found = provider_rules.problems(fmt, body, model)
        return "; ".join(found[:3]) if found else None

    def key_ok(self, request: web.Request) -> bool:
        if self.api_key is None:
            return True
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        given = {
            bearer,
            request.headers.get("x-api-key", ""),
            request.headers.get("x-goog-api-key", ""),
            request.query.get("key", ""),
        }
        return self.api_key in given


async def sse_response(
    request: web.Request, headers: dict[str, str] | None = None
) -> web.StreamResponse:
    response = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            **(headers or {}),
        },
    )
    await response.prepare(request)
    return response


def frame(data: Any, event: str | None = None) -> bytes:
    payload = json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def estimate_tokens(body: Any) -> int:
    return max(1, len(json.dumps(body)) // 4)


def main(fake: type[FakeServer], description: str) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    server = fake(api_key=args.api_key)
    web.run_app(server.app(), host=args.host, port=args.port, access_log=None, print=None)
