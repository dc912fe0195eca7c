"""What the door (parse, depth bound, schema check) costs per request, as ratios against the
same work without it.

1. The door alone: CPU microseconds to admit each body, against parsing it alone (what the
   proxy did before), for a small chat body and bodies the size real clients send.
2. Whole requests: CPU per request of two proxy processes serving the same load side by side,
   one as shipped and one with the depth and schema checks switched off, interleaved in one
   run so both see the same noise.

Run with `python -m bench.door_cost` (about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.proxy_overhead import free_port, wait_ready
from services.proxy.door.gate import admit, parse_object
from tests.unit.proxy.translate import bodies

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-bench-client-key-0123456789abcdef"
MODEL = "claude-sonnet-4-5"
WORDS = [
    "the",
    "file",
    "path",
    "to",
    "read",
    "and",
    "the",
    "tool",
    "to",
    "run",
    "with",
    "its",
    "options",
    "when",
    "asked",
]
# The door switched off in a second proxy process, for the comparison (never in the product).
NO_DOOR = (
    "import services.proxy.door.gate as door; "
    "door.check = lambda body, endpoint: None; "
    "door.deeper_than = lambda body, limit: False; "
    "from services.proxy.__main__ import main; main()"
)


def _text(n: int, seed: int) -> str:
    return " ".join(WORDS[(seed + i * 7) % len(WORDS)] for i in range(n))


def _schema(depth: int, seed: int) -> dict[str, Any]:
    props: dict[str, Any] = {
        f"opt_{i}": {"type": "string", "description": _text(12, seed + i)} for i in range(4)
    }
    props["flag"] = {"type": "boolean", "default": False}
    if depth:
        props["items"] = {"type": "array", "items": _schema(depth - 1, seed + 1)}
    return {"type": "object", "properties": props, "required": ["opt_0"]}


def claude_code_sized(turns: int = 0) -> dict[str, Any]:
    """Shaped like Claude Code's first request (~76 KB: 24 tools with nested schemas, long
    system blocks); `turns` adds tool round trips as a long session has."""
    body = bodies.claude_code()
    body["system"][1]["text"] = _text(2500, 1)
    tools = [
        {"name": f"Tool{i}", "description": _text(250, i), "input_schema": _schema(3, i)}
        for i in range(24)
    ]
    body["tools"] = tools
    for i in range(turns):
        call = {"type": "tool_use", "id": f"toolu_{i}", "name": "Tool1", "input": {"opt_0": "x"}}
        result = {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": _text(150, i)}
        body["messages"] += [
            {"role": "assistant", "content": [{"type": "text", "text": _text(20, i)}, call]},
            {"role": "user", "content": [result]},
        ]
    return body


def codex_sized() -> dict[str, Any]:
    body = bodies.codex()
    body["input"] = body["input"] * 40
    return body


def gemini_sized() -> dict[str, Any]:
    body = bodies.gemini_cli()
    decls = body["tools"][0]["functionDeclarations"]
    for i in range(16):
        decls.append(
            {
                "name": f"tool_{i}",
                "description": _text(120, i),
                "parametersJsonSchema": _schema(2, i),
            }
        )
    return body


SMALL = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
CASES: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
    ("small chat", "chat", lambda: SMALL),
    ("Claude Code first turn", "messages", claude_code_sized),
    ("Claude Code, 100 tool turns", "messages", lambda: claude_code_sized(100)),
    ("Codex, 360 input items", "responses", codex_sized),
    ("Gemini CLI, 18 tools", "generate", gemini_sized),
]


def _best_us(fns: dict[str, Callable[[], object]], n: int, rounds: int = 40) -> dict[str, float]:
    """Best CPU time per call of each function, the functions interleaved round by round so
    that a noisy neighbour slows them all alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            started = time.thread_time()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.thread_time() - started) / n * 1e6)
    return best


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid`, in nanoseconds (/proc/PID/stat counts 10 ms ticks)."""
    tasks = Path(f"/proc/{pid}/task")
    return sum(int((task / "schedstat").read_text().split()[0]) for task in tasks.iterdir())


def door_alone() -> None:
    print("1. The door alone: CPU us per body (best of 40 interleaved rounds)")
    print(f"   {'body':30} {'bytes':>8} {'parse':>8} {'door':>8} {'ratio':>6}")
    for name, endpoint, make in CASES:
        raw = json.dumps(make()).encode()
        best = _best_us(
            {
                "parse": lambda raw=raw: parse_object(raw),
                "door": lambda raw=raw, ep=endpoint: admit(raw, ep, 64),  # type: ignore[arg-type]
            },
            n=max(3, 100_000 // len(raw)),
        )
        parse, door = best["parse"], best["door"]
        print(f"   {name:30} {len(raw):>8} {parse:>8.1f} {door:>8.1f} {door / parse:>6.2f}")


def _proxy(argv_tail: list[str], config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *argv_tail, "--config", str(config)],
        cwd=REPO,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _batch(url: str, path: str, body: bytes, n: int) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            async with session.post(url + path, data=body, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                await resp.read()

        for _ in range(n // 4):
            await asyncio.gather(*(one() for _ in range(4)))


def _config(tmp: Path, label: str, port: int, upstream: str) -> Path:
    path = tmp / f"{label}.yaml"
    credential = {"api-key": "k", "base-url": upstream, "models": [{"name": MODEL}]}
    config = {
        "port": port,
        "api-keys": [KEY],
        "request-retry": 0,
        "claude-api-key": [credential],
        "usage-dir": str(tmp / f"usage-{label}"),
    }
    path.write_text(json.dumps(config))
    return path


async def _status(url: str, body: dict[str, Any]) -> int:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/v1/messages", json=body, headers=headers) as resp,
    ):
        await resp.read()
        return resp.status


async def _measure(procs: dict[str, Any], urls: dict[str, str], raw: bytes, rounds: int, n: int):
    cpu: dict[str, list[float]] = {"on": [], "off": []}
    for i in range(rounds):
        for label in ("on", "off") if i % 2 else ("off", "on"):
            before = cpu_ns(procs[label].pid)
            await _batch(urls[label], "/v1/messages", raw, n)
            cpu[label].append((cpu_ns(procs[label].pid) - before) / n / 1e3)
    return cpu


async def whole_requests(rounds: int, requests: int) -> None:
    from tests.fakes.anthropic_upstream import FakeAnthropic

    print("\n2. Whole requests: proxy CPU us per request over rounds, door on / off")
    print(f"   {'body':26} {'bytes':>7}  {'on min/med':>13}  {'off min/med':>13}  ratio min/med")
    async with FakeAnthropic() as upstream:
        with tempfile.TemporaryDirectory() as tmp:
            procs, urls = {}, {}
            for label, argv in (("on", ["-m", "services.proxy"]), ("off", ["-c", NO_DOOR])):
                port = free_port()
                procs[label] = _proxy(argv, _config(Path(tmp), label, port, upstream.base_url))
                urls[label] = f"http://127.0.0.1:{port}"
                await wait_ready(urls[label] + "/healthz")
            try:
                wrong = {"model": MODEL, "max_tokens": 5, "messages": [{"content": 3.7}]}
                assert await _status(urls["on"], wrong) == 400
                assert await _status(urls["off"], wrong) == 200, "the door is still on"
                for name, body in (
                    ("small message", bodies.claude_code()),
                    ("Claude Code first turn", claude_code_sized()),
                    ("Claude Code, 100 turns", claude_code_sized(100)),
                ):
                    raw = json.dumps({**body, "model": MODEL, "stream": False}).encode()
                    cpu = await _measure(procs, urls, raw, rounds, requests)
                    on = (min(cpu["on"]), statistics.median(cpu["on"]))
                    off = (min(cpu["off"]), statistics.median(cpu["off"]))
                    print(
                        f"   {name:26} {len(raw):>7}  {on[0]:6.0f}/{on[1]:<6.0f}  "
                        f"{off[0]:6.0f}/{off[1]:<6.0f}  {on[0] / off[0]:.3f}/{on[1] / off[1]:.3f}"
                    )
            finally:
                for proc in procs.values():
                    proc.terminate()
                    proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--requests", type=int, default=120)
    args = parser.parse_args()
    door_alone()
    asyncio.run(whole_requests(args.rounds, args.requests))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
