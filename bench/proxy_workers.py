"""Worker processes and memory: the proxy with 1 and with 2 workers, side by side in one run.

1. Throughput and CPU per request, non-stream, `wrk` at concurrency 32 against the fast fake
   upstream, the two proxies in alternating order per round; CPU is that of every process of
   the proxy (the parent and its workers), from `/proc/<pid>/task/*/schedstat`.
2. Memory: RSS of every process of each proxy at rest, then with `--streams` (1,000) idle
   streams open through it (`bench.holding_upstream` sends one chunk and holds the stream),
   and the same for the bare relay (`bench.bare_relay`) as the floor.

Kept apart from `bench/proxy_overhead.py` (whose helpers it uses) so the two evolve separately.
`python -m bench.proxy_workers --rounds 3 --seconds 4 --streams 1000` (part of `make bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.proxy_overhead import (
    BODY,
    KEY,
    cpu_seconds,
    free_port,
    lua_script,
    proxy_config,
    rss_mib,
    start,
    stop,
    wait_ready,
    wrk,
)

HOLD_MODEL = "bench-hold"
PATH = "/v1/chat/completions"


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (the supervisor and its workers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            found.extend(process_tree(int(child)))
    return found


def tree_cpu(pid: int) -> float:
    return sum(cpu_seconds(p) for p in process_tree(pid))


def tree_rss(pid: int) -> float:
    return sum(rss_mib(p) for p in process_tree(pid))


def cpu_per_request(pid: int, url: str, script: Path, seconds: float) -> tuple[float, float]:
    """(requests per second, CPU microseconds per request of every process) at c=32."""
    before = tree_cpu(pid)
    load = wrk(url, 32, seconds, script)
    return load.rps, (tree_cpu(pid) - before) / load.requests * 1e6


async def workers_answering(base_url: str, expected: int, limit: float = 120.0) -> None:
    """Wait until /healthz has been answered by `expected` distinct workers."""
    deadline = time.monotonic() + limit
    seen: set[str] = set()
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        while len(seen) < expected and time.monotonic() < deadline:
            try:
                async with session.get(f"{base_url}/healthz") as resp:
                    seen.add((await resp.json()).get("worker", "0"))
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)  # a worker still starting
    if len(seen) < expected:
        raise TimeoutError(f"{base_url}: only workers {sorted(seen)} answered")


async def idle_streams_rss(url: str, pid: int, count: int) -> float:
    """Open `count` streams, wait for each one's first chunk, read the RSS, close them."""
    body = {**BODY, "model": HOLD_MODEL, "stream": True}
    headers = {"Authorization": f"Bearer {KEY}"}
    gate = asyncio.Semaphore(64)  # opening a thousand at once would overflow the backlogs
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> aiohttp.ClientResponse:
            async with gate:
                resp = await session.post(url, json=body, headers=headers)
                assert resp.status == 200, await resp.text()
                await resp.content.readany()
                return resp

        streams = await asyncio.gather(*(one() for _ in range(count)))
        rss = tree_rss(pid)
        for resp in streams:
            resp.close()
    return rss


def hold_config(px_port: int, up_port: int, hold_port: int, claude_port: int) -> dict[str, object]:
    config = proxy_config(px_port, up_port, claude_port, claude_port)  # no scripted model here
    compat = list(config["openai-compatibility"])  # type: ignore[call-overload]
    compat.append(
        {
            "name": "hold",
            "base-url": f"http://127.0.0.1:{hold_port}/v1",
            "api-key-entries": [{"api-key": "upstream-key"}],
            "models": [{"name": HOLD_MODEL}],
        }
    )
    return {**config, "openai-compatibility": compat}


def throughput(
    pids: dict[str, int], urls: dict[str, str], rounds: int, seconds: float, script: Path
) -> None:
    rps: dict[str, list[float]] = {name: [] for name in pids}
    cpu: dict[str, list[float]] = {name: [] for name in pids}
    names = tuple(pids)
    for rnd in range(rounds):
        for name in names[rnd % 2 :] + names[: rnd % 2]:
            r, c = cpu_per_request(pids[name], urls[name], script, seconds)
            rps[name].append(r)
            cpu[name].append(c)
        print(
            f"round {rnd + 1}: "
            + ", ".join(f"{n} {rps[n][-1]:.0f} req/s, {cpu[n][-1]:.0f} us CPU/req" for n in names)
        )
    med = statistics.median
    one, two = names
    print(
        f"\n1 vs 2 workers, non-stream c=32, medians of {rounds} rounds:\n"
        f"  {one}: {med(rps[one]):.0f} req/s, {med(cpu[one]):.0f} us CPU per request\n"
        f"  {two}: {med(rps[two]):.0f} req/s, {med(cpu[two]):.0f} us CPU per request\n"
        f"  2 workers / 1 worker: throughput"
        f" x{med(b / a for a, b in zip(rps[one], rps[two], strict=True)):.2f},"
        f" CPU per request x{med(b / a for a, b in zip(cpu[one], cpu[two], strict=True)):.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--streams", type=int, default=1000, help="idle streams for memory")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8 * args.streams)), hard))
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        up, hold, relay_port, claude, one_port, two_port = (free_port() for _ in range(6))
        procs = [
            start(
                [
                    sys.executable,
                    "-m",
                    "tests.fakes.openai_upstream",
                    "--port",
                    str(up),
                    "--fast",
                    "--chunks",
                    "17",
                ]
            ),
            start([sys.executable, "-m", "bench.holding_upstream", "--port", str(hold)]),
            start(
                [
                    sys.executable,
                    "-m",
                    "bench.bare_relay",
                    "--port",
                    str(relay_port),
                    "--upstream",
                    f"http://127.0.0.1:{hold}",
                ]
            ),
        ]
        pids, urls = {}, {}
        for name, port, workers in (("1 worker", one_port, 1), ("2 workers", two_port, 2)):
            folder = tmpdir / f"w{workers}"
            folder.mkdir()
            (folder / "config.yaml").write_text(json.dumps(hold_config(port, up, hold, claude)))
            proc = start(
                [sys.executable, "-m", "services.proxy", "--config", str(folder / "config.yaml")],
                env={"LOG_LEVEL": "WARNING", "PROXY_WORKERS": str(workers)},
                log=folder / "proxy.log",
            )
            procs.append(proc)
            pids[name], urls[name] = proc.pid, f"http://127.0.0.1:{port}{PATH}"
        try:
            asyncio.run(wait_ready(f"http://127.0.0.1:{up}/v1/models", 60))
            asyncio.run(wait_ready(f"http://127.0.0.1:{hold}/v1/models", 60))
            asyncio.run(wait_ready(f"http://127.0.0.1:{relay_port}/healthz", 60))
            asyncio.run(workers_answering(f"http://127.0.0.1:{one_port}", 1))
            asyncio.run(workers_answering(f"http://127.0.0.1:{two_port}", 2))
            script = lua_script(tmpdir / "post.lua", BODY)
            for url in urls.values():
                wrk(url, 8, 1.0, script)  # warm-up
            print(
                f"proxy workers: {args.rounds} rounds of {args.seconds}s; load average"
                f" {os.getloadavg()[0]:.1f} at start; {os.cpu_count()} cores\n"
            )
            throughput(pids, urls, args.rounds, args.seconds, script)
            memory(pids, urls, procs[2].pid, f"http://127.0.0.1:{relay_port}{PATH}", args.streams)
            print(f"load average at end {os.getloadavg()[0]:.1f}")
        except Exception:
            for log in sorted(tmpdir.glob("w*/proxy.log")):
                print(
                    f"--- {log.parent.name}/proxy.log",
                    *log.read_text().splitlines()[-15:],
                    sep="\n",
                    file=sys.stderr,
                )
            raise
        finally:
            stop(procs, timeout=30)
    return 0


def memory(
    pids: dict[str, int], urls: dict[str, str], relay_pid: int, relay_url: str, streams: int
) -> None:
    targets = {**pids, "bare relay": relay_pid}
    target_urls = {**urls, "bare relay": relay_url}
    at_rest = {name: tree_rss(pid) for name, pid in targets.items()}
    print(f"\nRSS MiB of every process, at rest / with {streams} idle open streams:")
    for name, pid in targets.items():
        loaded = asyncio.run(idle_streams_rss(target_urls[name], pid, streams))
        per_stream = (loaded - at_rest[name]) * 1024 / streams
        print(f"  {name}: {at_rest[name]:.0f} / {loaded:.0f} ({per_stream:.1f} KiB per stream)")


if __name__ == "__main__":
    sys.exit(main())
