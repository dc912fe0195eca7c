"""Proxy overhead benchmark: the same load sent directly to a fast fake upstream and through
the proxy, interleaved in one run, so the figures are ratios measured under the same noise.

Prints requests/s (proxy / direct), added p50/p99 latency, proxy CPU microseconds per request
at concurrency 1 and 32 (non-stream), and for streams the added time to first token and
chunks/s. Needs `wrk` (apt-get install wrk). Run with `make bench` or
`python -m bench.proxy_overhead --rounds 4 --seconds 5`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-bench-client-key-0123456789abcdef"
MODEL = "bench-model"
CLAUDE_MODEL = "bench-claude"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, concurrency: int, seconds: float, script: Path) -> Load:
    threads = min(concurrency, 2)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers during the benchmark:\n{out}")
    return Load(rps, p50, p99, requests)


def start(
    cmd: list[str], env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    sink = log.open("wb") if log else subprocess.DEVNULL
    return subprocess.Popen(
        cmd, cwd=REPO, env={**os.environ, **(env or {})}, stdout=sink, stderr=sink
    )


async def wait_ready(url: str, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError(url)


async def stream_probe(url: str, n: int, concurrency: int) -> tuple[float, float]:
    """Median time to first token (ms, sequential) and chunks/s (at `concurrency`)."""
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {**BODY, "stream": True}
    async with aiohttp.ClientSession() as session:
        ttfts = []
        for _ in range(n):
            t0 = time.perf_counter()
            async with session.post(url, json=body, headers=headers) as resp:
                await resp.content.readany()
                ttfts.append((time.perf_counter() - t0) * 1000)
                await resp.read()

        async def one() -> int:
            async with session.post(url, json=body, headers=headers) as resp:
                data = await resp.read()
                return data.count(b"data: ")

        t0 = time.perf_counter()
        counts = await asyncio.gather(*(one() for _ in range(concurrency * 4)))
        return statistics.median(ttfts), sum(counts) / (time.perf_counter() - t0)


def lua_script(path: Path, body: dict[str, object]) -> Path:
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{json.dumps(body)}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {KEY}"\n'
    )
    return path


def cpu_per_request(pid: int, url: str, script: Path, seconds: float) -> float:
    """Proxy CPU microseconds per request at concurrency 32."""
    before = cpu_seconds(pid)
    load = wrk(url, 32, seconds, script)
    return (cpu_seconds(pid) - before) / load.requests * 1e6


async def stream_cpu(pid: int, url: str, body: dict[str, object], n: int) -> float:
    """Proxy CPU microseconds per streamed answer, 8 streams at a time."""
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            async with session.post(url, json={**body, "stream": True}, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                await resp.read()

        before = cpu_seconds(pid)
        for _ in range(n // 8):
            await asyncio.gather(*(one() for _ in range(8)))
        return (cpu_seconds(pid) - before) / (n // 8 * 8) * 1e6


def median_ratio(pairs: list[tuple[float, float]]) -> float:
    return statistics.median(p / d for p, d in pairs)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--stream-requests", type=int, default=100)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is required: apt-get install -y wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        up_port, px_port = free_port(), free_port()
        upstream = start(
            [sys.executable, "-m", "tests.fakes.openai_upstream", "--port", str(up_port), "--fast"]
        )
        claude_port = free_port()
        claude = start(
            [sys.executable, "-m", "tests.fakes.anthropic_upstream", "--port", str(claude_port)]
        )
        config = {
            "port": px_port,
            "api-keys": [KEY],
            "streaming": {"keepalive-seconds": 15},
            "request-retry": 0,
            "openai-compatibility": [
                {
                    "name": "bench",
                    "base-url": f"http://127.0.0.1:{up_port}/v1",
                    "api-key-entries": [{"api-key": "upstream-key"}],
                    "models": [{"name": MODEL}],
                }
            ],
            "claude-api-key": [
                {
                    "api-key": "upstream-key",
                    "base-url": f"http://127.0.0.1:{claude_port}",
                    "models": [{"name": "claude-sonnet-4-5", "alias": CLAUDE_MODEL}],
                }
            ],
        }
        (tmpdir / "config.yaml").write_text(json.dumps(config))
        proxy = start(
            [sys.executable, "-m", "services.proxy", "--config", str(tmpdir / "config.yaml")],
            env={"LOG_LEVEL": "WARNING"},
            log=tmpdir / "proxy.log",
        )
        script = lua_script(tmpdir / "post.lua", BODY)
        claude_script = lua_script(tmpdir / "claude.lua", {**BODY, "model": CLAUDE_MODEL})
        direct_url = f"http://127.0.0.1:{up_port}/v1/chat/completions"
        proxy_url = f"http://127.0.0.1:{px_port}/v1/chat/completions"
        try:
            asyncio.run(wait_ready(f"http://127.0.0.1:{up_port}/v1/models"))
            asyncio.run(wait_ready(f"http://127.0.0.1:{px_port}/healthz"))
            wrk(proxy_url, 8, 1.0, script)  # warm-up: connections, caches
            print(
                f"proxy overhead: {args.rounds} interleaved rounds of {args.seconds}s "
                "(load generator, proxy and upstream share the machine)\n"
            )
            print(
                f"{'case':<18}{'direct req/s':>14}{'proxy req/s':>13}{'ratio':>8}"
                f"{'+p50 ms':>9}{'+p99 ms':>9}{'proxy CPU us/req':>18}"
            )
            for concurrency in (1, 32):
                pairs, d50, d99, cpus = [], [], [], []
                for rnd in range(args.rounds):
                    order = ("direct", "proxy") if rnd % 2 == 0 else ("proxy", "direct")
                    got: dict[str, Load] = {}
                    for which in order:
                        if which == "proxy":
                            before = cpu_seconds(proxy.pid)
                            got[which] = wrk(proxy_url, concurrency, args.seconds, script)
                            cpus.append(
                                (cpu_seconds(proxy.pid) - before) / got[which].requests * 1e6
                            )
                        else:
                            got[which] = wrk(direct_url, concurrency, args.seconds, script)
                    pairs.append((got["proxy"].rps, got["direct"].rps))
                    d50.append(got["proxy"].p50_ms - got["direct"].p50_ms)
                    d99.append(got["proxy"].p99_ms - got["direct"].p99_ms)
                direct_rps = statistics.median(d for _, d in pairs)
                proxy_rps = statistics.median(p for p, _ in pairs)
                print(
                    f"{'non-stream c=' + str(concurrency):<18}{direct_rps:>14.0f}{proxy_rps:>13.0f}"
                    f"{median_ratio(pairs):>8.2f}{statistics.median(d50):>9.2f}"
                    f"{statistics.median(d99):>9.2f}{statistics.median(cpus):>18.0f}"
                )
            asyncio.run(wait_ready(f"http://127.0.0.1:{claude_port}/v1/messages"))
            passthrough, translated, pass_stream, trans_stream = [], [], [], []
            claude_body = {**BODY, "model": CLAUDE_MODEL}
            for _ in range(args.rounds):
                passthrough.append(cpu_per_request(proxy.pid, proxy_url, script, args.seconds))
                translated.append(
                    cpu_per_request(proxy.pid, proxy_url, claude_script, args.seconds)
                )
                pass_stream.append(asyncio.run(stream_cpu(proxy.pid, proxy_url, BODY, 200)))
                trans_stream.append(asyncio.run(stream_cpu(proxy.pid, proxy_url, claude_body, 200)))
            med = statistics.median
            print(
                "\ntranslation (OpenAI client -> Anthropic upstream) vs passthrough"
                " (OpenAI -> OpenAI), proxy CPU us per request:\n"
                f"  non-stream c=32: passthrough {med(passthrough):.0f},"
                f" translated {med(translated):.0f} (x{med(translated) / med(passthrough):.2f})\n"
                f"  stream:          passthrough {med(pass_stream):.0f},"
                f" translated {med(trans_stream):.0f} (x{med(trans_stream) / med(pass_stream):.2f})"
            )
            ttft_d, cps_d = asyncio.run(stream_probe(direct_url, args.stream_requests, 8))
            ttft_p, cps_p = asyncio.run(stream_probe(proxy_url, args.stream_requests, 8))
            print(
                f"\nstream: time to first token direct {ttft_d:.2f} ms, proxy {ttft_p:.2f} ms "
                f"(added {ttft_p - ttft_d:.2f} ms); chunks/s direct {cps_d:.0f}, proxy {cps_p:.0f} "
                f"(ratio {cps_p / cps_d:.2f})"
            )
        finally:
            for proc in (proxy, upstream, claude):
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
