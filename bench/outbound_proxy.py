"""Outbound proxy benchmark: proxy CPU per request through an outbound proxy (`proxy-url`),
the lean client against aiohttp, with the lean client straight to the upstream as reference.

Three proxy processes share one fast fake upstream served over https (a throwaway test CA,
trusted by the proxies through `SSL_CERT_FILE`) and one fake outbound proxy process
(tests/fakes/forward_proxy.py: HTTP CONNECT, or SOCKS5 with `--kind socks5`):

- `lean`: `proxy-url` set, the lean client (CONNECT tunnel + TLS, pooled);
- `aiohttp`: the same `proxy-url`, `lean-upstream-client: false`;
- `direct`: no `proxy-url`, the lean client (what the proxied path should cost about).

Each round measures every target in a rotated order: CPU per request at concurrency 32
(`wrk`) and per 20-frame stream (8 at a time), read from `/proc/<pid>/task/*/schedstat`; the
summary gives the medians of the per-round ratios. Run with
`python -m bench.outbound_proxy --rounds 5 --seconds 3 [--kind socks5]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench.proxy_overhead import (
    BODY,
    KEY,
    MODEL,
    cpu_per_request,
    free_port,
    lua_script,
    rotated,
    start,
    stop,
    stream_cpu,
    wait_ready,
    wrk,
)
from tests.fakes.tls import write_test_ca

TARGETS = ("lean", "aiohttp", "direct")


def config(port: int, upstream: str, proxy_url: str, lean: bool) -> dict[str, object]:
    return {
        "port": port,
        "api-keys": [KEY],
        "streaming": {"keepalive-seconds": 15},
        "request-retry": 0,
        "lean-upstream-client": lean,
        "proxy-url": proxy_url,
        "openai-compatibility": [
            {
                "name": "bench",
                "base-url": f"{upstream}/v1",
                "api-key-entries": [{"api-key": "upstream-key"}],
                "models": [{"name": MODEL}],
            }
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--streams", type=int, default=200, help="streams per CPU measurement")
    parser.add_argument("--kind", choices=("http", "socks5"), default="http")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is required: apt-get install -y wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        ca = write_test_ca(tmpdir)
        up_port, out_port = free_port(), free_port()
        upstream_url = f"https://127.0.0.1:{up_port}"
        procs = [
            start(
                [
                    *(sys.executable, "-m", "tests.fakes.openai_upstream", "--port", str(up_port)),
                    *("--fast", "--chunks", "17", "--tls", str(ca.cert), str(ca.key)),
                ]
            ),
            start(
                [sys.executable, "-m", "tests.fakes.forward_proxy", "--port", str(out_port)]
                + (["--socks5"] if args.kind == "socks5" else [])
            ),
        ]
        proxy_url = f"{args.kind}://127.0.0.1:{out_port}"
        settings = {
            "lean": (proxy_url, True),
            "aiohttp": (proxy_url, False),
            "direct": ("", True),
        }
        urls: dict[str, str] = {}
        pids: dict[str, int] = {}
        for name, (via, lean) in settings.items():
            port = free_port()
            path = tmpdir / f"{name}.yaml"
            path.write_text(json.dumps(config(port, upstream_url, via, lean)))
            proc = start(
                [sys.executable, "-m", "services.proxy", "--config", str(path)],
                env={"LOG_LEVEL": "WARNING", "SSL_CERT_FILE": str(ca.ca)},
                log=tmpdir / f"{name}.log",
            )
            procs.append(proc)
            urls[name] = f"http://127.0.0.1:{port}/v1/chat/completions"
            pids[name] = proc.pid
        script = lua_script(tmpdir / "post.lua", BODY)
        try:
            for url in urls.values():
                asyncio.run(wait_ready(url.replace("/v1/chat/completions", "/healthz")))
            for url in urls.values():
                wrk(url, 8, 1.0, script)  # warm-up: tunnels, TLS sessions, caches
            print(
                f"outbound proxy ({args.kind}): {args.rounds} rounds of {args.seconds}s, https"
                f" upstream, load average {os.getloadavg()[0]:.1f} at start\n"
            )
            rows: dict[str, list[float]] = {}
            for rnd in range(args.rounds):
                cpu = {
                    name: cpu_per_request(pids[name], urls[name], script, args.seconds)
                    for name in rotated(TARGETS, rnd)
                }
                scpu = {
                    name: asyncio.run(stream_cpu(pids[name], urls[name], BODY, args.streams))
                    for name in rotated(TARGETS, rnd)
                }
                for name in TARGETS:
                    rows.setdefault(f"{name} cpu", []).append(cpu[name])
                    rows.setdefault(f"{name} stream", []).append(scpu[name])
                for key, mine, other in (
                    ("lean/aiohttp", "lean", "aiohttp"),
                    ("lean/direct", "lean", "direct"),
                ):
                    rows.setdefault(key, []).append(cpu[mine] / cpu[other])
                    rows.setdefault(key + " stream", []).append(scpu[mine] / scpu[other])
                print(
                    f"  round {rnd + 1}, load {os.getloadavg()[0]:.1f}: "
                    + ", ".join(f"{n} {cpu[n]:.0f} us/req {scpu[n]:.0f} us/stream" for n in TARGETS)
                )
            med = {key: statistics.median(values) for key, values in rows.items()}
            print(f"\n{'target':<10}{'CPU us/req':>12}{'CPU us/stream':>15}")
            for name in TARGETS:
                print(f"{name:<10}{med[name + ' cpu']:>12.0f}{med[name + ' stream']:>15.0f}")
            print(
                f"\nlean / aiohttp through the proxy: x{med['lean/aiohttp']:.2f} per request,"
                f" x{med['lean/aiohttp stream']:.2f} per stream"
                f"\nlean through the proxy / lean direct: x{med['lean/direct']:.2f} per request,"
                f" x{med['lean/direct stream']:.2f} per stream"
                "\n(medians of the per-round ratios)"
            )
        finally:
            stop(procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
