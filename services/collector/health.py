"""The collector's small HTTP server: `/healthz` (JSON) and `/metrics` (Prometheus)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.collector.status import CollectorStatus, Metrics

STATUS = web.AppKey("status", CollectorStatus)
METRICS = web.AppKey("metrics", Metrics)


def create_app(status: CollectorStatus, metrics: Metrics) -> web.Application:
    """The health app; no I/O here."""
    app = web.Application()
    app[STATUS], app[METRICS] = status, metrics
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    return app


async def healthz(request: web.Request) -> web.Response:
    """200 while the database answers (leader or standby), 503 while it does not."""
    status = request.app[STATUS]
    return web.json_response(status.snapshot(), status=200 if status.database_ok else 503)


async def metrics_page(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    metrics.observe(request.app[STATUS])
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class HealthServer:
    """Runs the health app on host:port (port 0 picks a free one: see `port`)."""

    def __init__(self, status: CollectorStatus, metrics: Metrics) -> None:
        self._app = create_app(status, metrics)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
