"""Run every OAuth provider fake as one process.

    python -m tests.fakes.oauth --ports-file /tmp/oauth-fakes.json [--host 127.0.0.1]

Writes `{"overrides": {real origin: local origin}, "control": URL}` to the ports file, prints
`listening <control URL>` and serves until terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence

from tests.fakes.oauth.harness import OAuthFakes, write_ports_file


async def serve(host: str, ports_file: str) -> None:
    async with OAuthFakes(host) as fakes:
        control = await fakes.serve_control()
        write_ports_file(ports_file, fakes.overrides, control)
        print(f"listening {control}", flush=True)
        await asyncio.Event().wait()  # until SIGTERM/SIGINT ends the process


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="OAuth provider fakes")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports-file", required=True)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.ports_file))


if __name__ == "__main__":
    main()
