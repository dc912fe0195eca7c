"""Proxy overhead benchmark: the proxy side by side with a bare aiohttp relay (`bench.bare_relay`,
the floor), both behind the same precomputed fake upstream, measured in one run.

Each round runs every target in a rotated order and prints its ratios; the summary gives the
medians of the per-round figures: throughput x direct and CPU per request at concurrency 32
(non-stream, `wrk`), CPU per 20-frame stream (8 streams at a time), the added time to first
byte at concurrency 1, and proxy / relay CPU. Then the proxy's CPU for translated requests
(OpenAI client, Anthropic upstream) against passthrough. CPU is read from every thread's
`/proc/<pid>/task/*/schedstat`. Needs `wrk` (apt-get install wrk). Run with `make bench` or
`python -m bench.proxy_overhead --rounds 4 --seconds 4`.
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
CLAUDE_MODEL = "bench-claude"  # the fast Anthropic fake
SCRIPTED_MODEL = "bench-claude-scripted"  # the test suite's Anthropic fake
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of `pid`, in nanosecond resolution (schedstat), as seconds."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended between listing and reading
    return total / 1e9


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


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
    cmd: list[str],
    env: dict[str, str] | None = None,
    log: Path | None = None,
    cwd: Path = REPO,
) -> subprocess.Popen[bytes]:
    sink = log.open("wb") if log else subprocess.DEVNULL
    return subprocess.Popen(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=sink, stderr=sink
    )


def stop(procs: list[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """SIGTERM each process (a graceful stop), SIGKILL what has not ended within `timeout`."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


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


def rotated(names: tuple[str, ...], rnd: int) -> tuple[str, ...]:
    """Each round starts with a different target, so drift in the machine's load is shared."""
    k = rnd % len(names)
    return names[k:] + names[:k]


async def ttft(url: str, n: int) -> float:
    """Median time to first byte of a stream (ms), one request at a time."""
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {**BODY, "stream": True}
    async with aiohttp.ClientSession() as session:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            async with session.post(url, json=body, headers=headers) as resp:
                await resp.content.readany()
                times.append((time.perf_counter() - t0) * 1000)
                await resp.read()
        return statistics.median(times)


@dataclass
class Targets:
    urls: dict[str, str]  # direct, relay, proxy -> chat completions URL
    pids: dict[str, int]  # relay, proxy -> process id


def side_by_side(t: Targets, rounds: int, seconds: float, script: Path, streams: int) -> None:
    """The bare relay and the proxy (and a baseline proxy, if given) against the same upstream,
    ratios to the relay per round, medians of the rounds."""
    med = statistics.median
    rows: dict[str, list[float]] = {}
    served = tuple(t.pids)  # relay first, then the proxies

    def add(key: str, value: float) -> None:
        rows.setdefault(key, []).append(value)

    for rnd in range(rounds):
        rps: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for name in rotated(tuple(t.urls), rnd):
            pid = t.pids.get(name)
            before = cpu_seconds(pid) if pid else 0.0
            load = wrk(t.urls[name], 32, seconds, script)
            rps[name] = load.rps
            if pid:
                cpu[name] = (cpu_seconds(pid) - before) / load.requests * 1e6
        scpu = {
            name: asyncio.run(stream_cpu(t.pids[name], t.urls[name], BODY, streams))
            for name in rotated(served, rnd)
        }
        first = {name: asyncio.run(ttft(t.urls[name], 60)) for name in rotated(tuple(t.urls), rnd)}
        line = []
        for name in served:
            add(f"{name} x direct", rps[name] / rps["direct"])
            add(f"{name} cpu", cpu[name])
            add(f"{name} stream cpu", scpu[name])
            add(f"{name} ttft", first[name] - first["direct"])
            add(f"{name} cpu ratio", cpu[name] / cpu["relay"])
            add(f"{name} stream ratio", scpu[name] / scpu["relay"])
            line.append(
                f"{name} {cpu[name]:.0f} us (x{cpu[name] / cpu['relay']:.2f}),"
                f" stream {scpu[name]:.0f} us (x{scpu[name] / scpu['relay']:.2f})"
            )
        print(f"  round {rnd + 1}, load {os.getloadavg()[0]:.1f}: " + "; ".join(line))
    print(
        f"\n{'target':<10}{'x direct':>10}{'CPU us/req':>12}{'x relay':>9}{'CPU us/stream':>15}"
        f"{'x relay':>9}{'+TTFT ms c=1':>14}"
    )
    for name in served:
        print(
            f"{name:<10}{med(rows[name + ' x direct']):>10.3f}{med(rows[name + ' cpu']):>12.0f}"
            f"{med(rows[name + ' cpu ratio']):>9.2f}{med(rows[name + ' stream cpu']):>15.0f}"
            f"{med(rows[name + ' stream ratio']):>9.2f}{med(rows[name + ' ttft']):>+14.2f}"
        )
    print(
        "(x relay: median of the per-round ratios; aims: CPU per request <= 1.0,"
        " per stream <= 1.1, added TTFT < 0.5 ms)"
    )


def translation(t: Targets, rounds: int, seconds: float, scripts: dict[str, Path]) -> None:
    """Per proxy (and baseline), CPU per translated request (OpenAI client, Anthropic upstream)
    over CPU per passthrough request (OpenAI both sides), alternating in each round. `fast`
    is an Anthropic fake as lean as the OpenAI one; `scripted` the test suite's full fake,
    which competes harder for the shared cores (the method of the earlier figures)."""
    med = statistics.median
    proxies = [name for name in t.pids if name != "relay"]
    rows: dict[str, list[float]] = {}
    for rnd in range(rounds):
        for name in rotated(tuple(proxies), rnd):
            pid, url = t.pids[name], t.urls[name]
            cpu = {
                kind: cpu_per_request(pid, url, script, seconds) for kind, script in scripts.items()
            }
            for kind in ("fast", "scripted"):
                rows.setdefault(f"{name} {kind}", []).append(cpu[kind] / cpu["passthrough"])
            rows.setdefault(f"{name} passthrough", []).append(cpu["passthrough"])
            rows.setdefault(f"{name} fast cpu", []).append(cpu["fast"])
            bodies = {"passthrough": BODY, "fast": {**BODY, "model": CLAUDE_MODEL}}
            streams = {
                kind: asyncio.run(stream_cpu(pid, url, body, 200)) for kind, body in bodies.items()
            }
            rows.setdefault(f"{name} stream", []).append(streams["fast"] / streams["passthrough"])
    print(
        "\ntranslation (OpenAI client -> Anthropic upstream) vs passthrough (OpenAI -> OpenAI),"
        " proxy CPU per request, median of the per-round ratios (aim <= 1.3):"
    )
    m = {key: med(values) for key, values in rows.items()}
    for name in proxies:
        print(
            f"  {name:<9} non-stream c=32: passthrough {m[name + ' passthrough']:.0f} us,"
            f" translated {m[name + ' fast cpu']:.0f} us (x{m[name + ' fast']:.2f});"
            f" with the scripted fake x{m[name + ' scripted']:.2f};"
            f" 20-frame stream x{m[name + ' stream']:.2f}"
        )


def proxy_config(
    px_port: int, up_port: int, claude_port: int, scripted_port: int
) -> dict[str, object]:
    return {
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
            },
            {
                "api-key": "upstream-key",
                "base-url": f"http://127.0.0.1:{scripted_port}",
                "models": [{"name": "claude-sonnet-4-5", "alias": SCRIPTED_MODEL}],
            },
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--streams", type=int, default=200, help="streams per CPU measurement")
    parser.add_argument("--skip-translation", action="store_true")
    parser.add_argument(
        "--translation-only", action="store_true", help="skip the side-by-side with the relay"
    )
    parser.add_argument(
        "--baseline",
        metavar="GIT_REF",
        help="also run the proxy of this commit (e.g. main), side by side, as `baseline`",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is required: apt-get install -y wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        up_port, px_port, relay_port, claude_port, scripted_port = (free_port() for _ in range(5))
        # 17 content deltas + the role and finish chunks + [DONE]: 20 SSE frames per stream.
        fast = ["--fast", "--chunks", "17"]
        upstream = start(
            [sys.executable, "-m", "tests.fakes.openai_upstream", "--port", str(up_port), *fast]
        )
        claude = start(
            [
                sys.executable,
                "-m",
                "tests.fakes.anthropic_upstream",
                "--port",
                str(claude_port),
                *fast,
            ]
        )
        scripted = start(
            [sys.executable, "-m", "tests.fakes.anthropic_upstream", "--port", str(scripted_port)]
        )
        relay = start(
            [
                *(sys.executable, "-m", "bench.bare_relay", "--port", str(relay_port)),
                *("--upstream", f"http://127.0.0.1:{up_port}"),
            ]
        )
        (tmpdir / "config.yaml").write_text(
            json.dumps(proxy_config(px_port, up_port, claude_port, scripted_port))
        )
        proxy = start(
            [sys.executable, "-m", "services.proxy", "--config", str(tmpdir / "config.yaml")],
            env={"LOG_LEVEL": "WARNING"},
            log=tmpdir / "proxy.log",
        )
        procs = [proxy, relay, upstream, claude, scripted]
        script = lua_script(tmpdir / "post.lua", BODY)
        scripts = {
            "passthrough": script,
            "fast": lua_script(tmpdir / "claude.lua", {**BODY, "model": CLAUDE_MODEL}),
            "scripted": lua_script(tmpdir / "scripted.lua", {**BODY, "model": SCRIPTED_MODEL}),
        }
        path = "/v1/chat/completions"
        targets = Targets(
            urls={
                "direct": f"http://127.0.0.1:{up_port}{path}",
                "relay": f"http://127.0.0.1:{relay_port}{path}",
                "proxy": f"http://127.0.0.1:{px_port}{path}",
            },
            pids={"relay": relay.pid, "proxy": proxy.pid},
        )
        if args.baseline:
            base_port, tree = free_port(), tmpdir / "baseline"
            tree.mkdir()
            archive = subprocess.run(
                ["git", "archive", args.baseline], cwd=REPO, capture_output=True, check=True
            )
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
            (tmpdir / "base.yaml").write_text(
                json.dumps(proxy_config(base_port, up_port, claude_port, scripted_port))
            )
            base = start(
                [sys.executable, "-m", "services.proxy", "--config", str(tmpdir / "base.yaml")],
                env={"LOG_LEVEL": "WARNING", "PYTHONPATH": str(tree)},
                log=tmpdir / "base.log",
                cwd=tree,
            )
            procs.append(base)
            targets.urls["baseline"] = f"http://127.0.0.1:{base_port}{path}"
            targets.pids["baseline"] = base.pid
        try:
            asyncio.run(wait_ready(f"http://127.0.0.1:{up_port}/v1/models"))
            asyncio.run(wait_ready(f"http://127.0.0.1:{relay_port}/healthz"))
            for name in targets.pids:
                asyncio.run(wait_ready(targets.urls[name].replace(path, "/healthz")))
            at_rest = {name: rss_mib(pid) for name, pid in targets.pids.items()}
            for name in targets.pids:
                wrk(targets.urls[name], 8, 1.0, script)  # warm-up: connections, caches
            print(
                f"proxy overhead: {args.rounds} rounds of {args.seconds}s, targets rotated per"
                f" round; load average {os.getloadavg()[0]:.1f} at start (load generator, proxy,"
                " relay and upstream share the machine)\n"
            )
            if not args.translation_only:
                side_by_side(targets, args.rounds, args.seconds, script, args.streams)
            if not args.skip_translation:
                for port in (claude_port, scripted_port):
                    asyncio.run(wait_ready(f"http://127.0.0.1:{port}/v1/messages"))
                translation(targets, args.rounds, args.seconds, scripts)
            print(
                "\nRSS MiB at rest / after the load: "
                + ", ".join(
                    f"{name} {at_rest[name]:.0f} / {rss_mib(pid):.0f}"
                    for name, pid in targets.pids.items()
                )
            )
            print(f"load average at end {os.getloadavg()[0]:.1f}")
        finally:
            stop(procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
