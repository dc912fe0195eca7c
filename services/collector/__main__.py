"""`python -m services.collector`: settings from the environment, run until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import structlog
from pydantic import ValidationError

from services.collector.settings import CollectorSettings
from services.collector.worker import Collector
from services.core.logging import configure_logging, register_secret

log = structlog.get_logger(__name__)


def load_settings() -> CollectorSettings:
    """Read settings, or exit naming each bad variable (never echoing its value)."""
    try:
        return CollectorSettings()  # fields come from the environment
    except ValidationError as exc:
        for error in exc.errors(include_input=False):
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            print(
                f"collector: invalid configuration: {where.upper()}: {error['msg']}",
                file=sys.stderr,
            )
        sys.exit(2)


async def run(settings: CollectorSettings) -> None:
    """Run one collector until SIGTERM or SIGINT, then let the page in hand finish within
    COLLECTOR_STOP_GRACE; past it the page's transaction is abandoned (rolled back, not acked),
    so the next leader stores those events exactly once."""
    collector = Collector(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, collector.stop)
    log.info("collector_starting", proxies=list(settings.proxy_urls), batch=settings.batch_size)
    work = asyncio.ensure_future(collector.run())
    stopping = asyncio.ensure_future(collector.stopping.wait())
    await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not work.done():
        await _finish_within(work, settings.stop_grace_s)
    if not work.cancelled():
        work.result()  # an error of the loop itself still fails the process
    log.info("collector_stopped")


async def _finish_within(work: asyncio.Future[None], grace_s: float) -> None:
    """Wait `grace_s` for `work`, then cancel it (psycopg cancels the query in the server)."""
    done, _ = await asyncio.wait({work}, timeout=grace_s)
    if done:
        return
    log.warning("collector_stop_forced", grace_s=grace_s)
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work


def main() -> None:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    register_secret(settings.collector_api_key.get_secret_value())
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
