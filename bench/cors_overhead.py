"""CORS header cost on the inference path: the real proxy app answering `GET /v1/models`, with
and without the `on_response_prepare` hook that adds the constant CORS block, for SDK requests
(no `Origin`) and browser requests (with `Origin`), in interleaved rounds on one event loop.
Prints the requests/s of each, the ratios, and the hook's own cost per call.
Run with `python -m bench.cors_overhead --rounds 6 --requests 2000`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer, make_mocked_request

from services.proxy.config.store import ConfigStore
from services.proxy.http.app import create_app
from services.proxy.http.cors import add_cors_headers
from services.proxy.settings import ProxySettings

KEY = "sk-bench-client-key-0123456789abcdef"


def _app(folder: Path, with_cors: bool) -> web.Application:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yaml"
    entry = {"api-key": "up", "models": [{"name": f"m{i}"} for i in range(20)]}
    config.write_text(json.dumps({"api-keys": [KEY], "claude-api-key": [entry]}))
    app = create_app(ProxySettings(config_path=config, log_format="console"), ConfigStore(config))
    if not with_cors:
        app.on_response_prepare.remove(add_cors_headers)
    return app


async def _round(
    session: aiohttp.ClientSession, url: str, requests: int, origin: bool = False
) -> float:
    headers = {"Authorization": f"Bearer {KEY}"}
    if origin:
        headers["Origin"] = "http://panel.example"
    started = time.perf_counter()
    for _ in range(requests):
        async with session.get(url, headers=headers) as resp:
            await resp.read()
    return requests / (time.perf_counter() - started)


async def _hook_cost(calls: int, headers: dict[str, str]) -> float:
    request = make_mocked_request("GET", "/v1/models", headers=headers)
    response = web.Response()
    started = time.perf_counter()
    for _ in range(calls):
        await add_cors_headers(request, response)
    return (time.perf_counter() - started) / calls * 1e6


async def main(rounds: int, requests: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        servers = {
            name: TestServer(_app(Path(tmp) / name, name == "cors"), host="127.0.0.1")
            for name in ("plain", "cors")
        }
        for server in servers.values():
            await server.start_server()
        runs = {
            "no hook, SDK": (servers["plain"], False),
            "hook, SDK (no Origin)": (servers["cors"], False),
            "no hook, browser": (servers["plain"], True),
            "hook, browser (Origin)": (servers["cors"], True),
        }
        rates: dict[str, list[float]] = {name: [] for name in runs}
        async with aiohttp.ClientSession() as session:
            for server in servers.values():  # warm-up
                await _round(session, str(server.make_url("/v1/models")), requests // 10)
            for _ in range(rounds):
                for name, (server, origin) in runs.items():
                    url = str(server.make_url("/v1/models"))
                    rates[name].append(await _round(session, url, requests, origin))
        for server in servers.values():
            await server.close()
    median = {name: statistics.median(values) for name, values in rates.items()}
    for name, rate in median.items():
        print(f"GET /v1/models, {name:24s} {rate:8.0f} req/s (median of {rounds})")
    sdk = median["hook, SDK (no Origin)"] / median["no hook, SDK"]
    browser = median["hook, browser (Origin)"] / median["no hook, browser"]
    print(f"ratio hook/no hook: SDK {sdk:.3f}, browser {browser:.3f}")
    sdk_us = await _hook_cost(100_000, {})
    browser_us = await _hook_cost(100_000, {"Origin": "http://panel.example"})
    print(f"hook alone: {sdk_us:.2f} us (SDK), {browser_us:.2f} us (browser) per response")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.requests))
