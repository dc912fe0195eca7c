"""Child process of the crash test: append N events, say so, then keep appending until killed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from services.core.logging import configure_logging
from services.proxy.usage import Outbox


async def main(directory: Path, count: int) -> None:
    # A long fsync interval: after `kill -9` the events must come from the page cache alone.
    box = Outbox(directory, soft_cap_bytes=1 << 30, fsync_interval=3600, segment_max_bytes=65536)
    await box.start()
    first = box.last_seq + 1
    for n in range(first, first + count):
        box.append({"n": n})
    sys.stdout.write(f"appended {box.last_seq}\n")
    sys.stdout.flush()
    n = first + count
    while True:  # keep writing so the kill lands in the middle of appends
        box.append({"n": n})
        n += 1
        if n % 64 == 0:
            await asyncio.sleep(0)


if __name__ == "__main__":
    configure_logging("WARNING")  # logs go to stderr; stdout carries only the report line
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
