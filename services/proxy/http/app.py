"""The proxy's aiohttp application: wiring, middleware, health and metrics routes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import structlog
from aiohttp import web

from services.core.errors import AppError

from ..config.host_overrides import HostOverrides
from ..config.loader import LoadedConfig
from ..config.paths import ProxyPaths
from ..config.store import ConfigStore
from ..inbound.request_body import NO_AUTO_DECOMPRESS
from ..limits.limiter import Limiter, counters_for
from ..limits.routes import spend_routes
from ..management.context import ManagementLimits
from ..management.control_panel import ControlPanel
from ..management.wiring import ManagementBridge, install_management
from ..oauth.providers import PROVIDERS
from ..oauth.service import OAuthService
from ..observability.metrics import Metrics
from ..observability.worker_metrics import WorkerMetrics
from ..routing.cooldowns import Cooldowns
from ..routing.runtime import RuntimeHolder
from ..routing.selector import Selector
from ..routing.shared_cooldowns import CooldownSharing
from ..settings import ProxySettings
from ..translate.errors import ClientFormat, error_body
from ..upstream.executor import Executor
from ..upstream.sessions import UpstreamClients
from ..usage.outbox import Outbox
from ..usage.recorder import Recorder
from ..usage.routes import usage_routes
from ..usage.siblings import AckInbox, SiblingOutboxes
from ..usage.stats import CredentialStats
from ..workers import SINGLE, WorkerSlot
from . import anthropic_routes, gemini_routes, openai_routes, responses_routes
from .app_objects import (
    COOLDOWNS,
    EXECUTOR,
    LIMITER,
    METRICS,
    OUTBOX,
    PANEL,
    PATHS,
    RUNTIME,
    SETTINGS,
    STORE,
    WORKER,
    WORKER_METRICS,
)
from .client_requests import REQUEST_ID, request_id
from .cors import install_cors
from .key_limits import add_limit_headers

log = structlog.get_logger(__name__)
AUTH_FILE_MAX_BYTES = ManagementLimits().auth_file_max_bytes
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def client_format(path: str) -> ClientFormat:
    """The wire format a route's clients expect errors in."""
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1beta") or (path.startswith("/v1/models/") and ":" in path):
        return "gemini"
    return "openai"


@web.middleware
async def errors_and_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render AppErrors in the client's format, count every request, never leak a traceback."""
    route = request.match_info.route.resource
    return await guarded(request, handler, route.canonical if route is not None else "unmatched")


async def guarded(request: web.Request, handler: Handler, route_name: str) -> web.StreamResponse:
    """Run `handler` as both server lanes do: errors in the client's format, metrics per route
    (`route_name`: the route's canonical path), a crash a 500 without its traceback."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except AppError as exc:
        status = exc.status
        return _error_response(request, exc.status, exc.message, exc.code, exc.headers, exc.details)
    except web.HTTPException as exc:
        status = exc.status
        if exc.status < 400:
            raise
        return _error_response(request, exc.status, exc.reason, None, {}, None)
    except Exception:
        log.exception("request_crashed", path=request.path, request_id=request.get(REQUEST_ID))
        return _error_response(request, 500, "Internal proxy error", "internal_error", {}, None)
    finally:
        request.app[METRICS].request(route_name, status, time.perf_counter() - started)


def _error_response(
    request: web.Request,
    status: int,
    message: str,
    code: str | None,
    headers: dict[str, str],
    details: object,
) -> web.Response:
    extra = details if isinstance(details, dict) else {}
    body = error_body(client_format(request.path), status, message, code, **extra)
    rid = request_id(request)
    return web.Response(
        body=body,
        status=status,
        content_type="application/json",
        headers={**headers, "X-Request-Id": rid},
    )


async def healthz(request: web.Request) -> web.Response:
    outbox = request.app[OUTBOX]
    body = {"status": "ok"}
    if outbox.full or outbox.dropping:
        body["usage_outbox"] = "full" if outbox.full else "dropping"
    limiter = request.app[LIMITER]
    if limiter.store_url:
        body["limits_store"] = "ok" if limiter.store_available else "unavailable"
    slot = request.app[WORKER]
    if slot.shared_port:
        body["worker"] = str(slot.index)  # which process answered (docs/workers.md)
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def metrics(request: web.Request) -> web.Response:
    shared = request.app.get(WORKER_METRICS)  # worker processes: every worker's series
    body = await shared.render() if shared is not None else request.app[METRICS].render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


def _gauges(app: web.Application) -> Callable[[], dict[str, float]]:
    def read() -> dict[str, float]:
        outbox = app[OUTBOX]
        runtime = app[RUNTIME].current
        return {
            "usage_outbox_depth_events": outbox.depth_events,
            "usage_outbox_depth_bytes": outbox.depth_bytes,
            "usage_outbox_full": 1.0 if outbox.full else 0.0,
            "usage_outbox_dropping": 1.0 if outbox.dropping else 0.0,
            "usage_events_dropped_total": outbox.dropped_total,
            "cooldowns_active": len(app[COOLDOWNS].active()),
            "credentials": len(runtime.credentials),
            "models": len(runtime.index),
            "limits_store_up": 1.0 if app[LIMITER].store_available else 0.0,
        }

    return read


def _accepted_usage_keys(settings: ProxySettings) -> Callable[[], list[str]]:
    keys = [settings.secret("collector_api_key"), settings.secret("management_api_key")]
    return lambda: [k for k in keys if k]


def _clear_auth_cooldowns(cooldowns: Cooldowns, ids: list[str]) -> None:
    """A refreshed token ends the 401 cooldowns its old one earned."""
    for cred_id in ids:
        cooldowns.clear_status(cred_id, 401)


def oauth_callback_routes(oauth: OAuthService) -> list[web.RouteDef]:
    """The main-port callback routes (`/anthropic/callback`, ...): always a small HTML page."""
    return [
        web.get(p.info.callback_path, oauth.callback_handler(kind))
        for kind, p in PROVIDERS.items()
        if p.info.callback_path
    ]


def create_app(
    settings: ProxySettings, store: ConfigStore, slot: WorkerSlot = SINGLE
) -> web.Application:
    """Build the app; files and sockets are opened in the cleanup context, not here.

    `slot` says which worker process this is (docs/workers.md); the default is the one process.
    """
    config = store.current.config
    paths = ProxyPaths.resolve(store.path, config)
    paths.create()
    app = web.Application(
        middlewares=[errors_and_metrics],
        client_max_size=2**40,  # bodies are capped by read_body, decoded bytes included
        handler_args=NO_AUTO_DECOMPRESS,
    )
    metrics_ = Metrics()
    cooldowns = Cooldowns(slot.state_file(paths.state / "cooldowns.json"))
    outbox = Outbox(
        slot.usage_dir(paths.usage),
        soft_cap_bytes=int(config.usage_outbox_max_mb * 1024 * 1024),
        exclusive=slot.shared_port,
    )
    # Worker processes serve and ack each other's outboxes; one process also serves what an
    # earlier run with more workers left behind.
    siblings = SiblingOutboxes(paths.usage, outbox)
    ack_inbox = AckInbox(outbox) if slot.shared_port else None
    sharing = (
        CooldownSharing(cooldowns, cooldowns.path) if cooldowns.path and slot.shared_port else None
    )
    upstream = UpstreamClients(HostOverrides(config.upstream_host_overrides))
    oauth = OAuthService(
        paths.auths,
        AUTH_FILE_MAX_BYTES,
        upstream,
        lambda: store.current.config,
        on_accounts_changed=lambda: holder.rebuild(),
        on_refreshed=lambda ids: _clear_auth_cooldowns(cooldowns, ids),
        shared_refresh=slot.shared_port,
    )
    holder = RuntimeHolder(store.current, oauth.credentials)
    app[SETTINGS] = settings
    app[STORE] = store
    app[RUNTIME] = holder
    app[METRICS] = metrics_
    app[COOLDOWNS] = cooldowns
    app[OUTBOX] = outbox
    app[PATHS] = paths
    app[WORKER] = slot
    worker_metrics = None
    if slot.shared_port:
        worker_metrics = WorkerMetrics(metrics_, paths.state, slot.index, slot.count)
        app[WORKER_METRICS] = worker_metrics
    stats = CredentialStats()
    executor = Executor(
        upstream, cooldowns, Selector(), Recorder(outbox, stats), metrics_, reauth=oauth.refresher
    )
    app[EXECUTOR] = executor
    limiter = Limiter(counters_for(config.limits_store))
    limiter.store_url = config.limits_store
    app[LIMITER] = limiter
    metrics_.add_gauges(_gauges(app))
    management_key = settings.secret("management_api_key") or None
    file_logs = install_management(
        app,
        store=store,
        paths=paths,
        management_key=lambda: management_key,
        bridge=ManagementBridge(holder, cooldowns, stats, oauth),
        outbox=outbox,
        upstream=upstream,
        oauth=oauth,
    )
    executor.error_log = file_logs.errors.write
    panel = ControlPanel(
        paths.state / "static",
        lambda: store.current.config,
        upstream,
        enabled=lambda: bool(management_key),
    )
    app[PANEL] = panel

    def on_config(loaded: LoadedConfig) -> None:
        upstream.overrides.update(loaded.config.upstream_host_overrides)
        holder.apply(loaded)
        limiter.use_store(loaded.config.limits_store)
        metrics_.config_reloads.labels("applied").inc()

    store.subscribe(on_config)
    store.on_reject(lambda _exc: metrics_.config_reloads.labels("rejected").inc())

    async def resources(app: web.Application) -> AsyncIterator[None]:
        await upstream.start()
        await outbox.start()
        if ack_inbox is not None:
            await ack_inbox.apply()
            ack_inbox.start()
        cooldowns.start()
        if sharing is not None:
            sharing.start()
        if worker_metrics is not None:
            worker_metrics.start()
        store.start()
        file_logs.start()
        panel.start()
        await oauth.pool.rescan()  # the auth files serve from the first request on
        oauth.start()
        loop = asyncio.get_running_loop()
        background = [
            loop.create_task(limiter.renew_leases()),
            loop.create_task(limiter.meter_streams()),
        ]
        yield
        for task in background:
            task.cancel()
        await limiter.close()
        await oauth.stop()
        await panel.stop()
        await file_logs.stop()
        await store.stop()
        if sharing is not None:
            await sharing.stop()
        if worker_metrics is not None:
            await worker_metrics.stop()
        await cooldowns.close()
        if ack_inbox is not None:
            await ack_inbox.stop()
        await outbox.close()
        await upstream.close()

    app.cleanup_ctx.append(resources)
    app.add_routes(openai_routes.routes)
    app.add_routes(anthropic_routes.routes)
    app.add_routes(responses_routes.routes)
    app.add_routes(gemini_routes.routes)
    app.add_routes(usage_routes(outbox, _accepted_usage_keys(settings), siblings))
    app.add_routes(oauth_callback_routes(oauth))
    app.add_routes(spend_routes(limiter.spend, _accepted_usage_keys(settings)))
    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/metrics", metrics),
            web.get("/management.html", panel.handle),
        ]
    )
    app.on_response_prepare.append(add_limit_headers)
    install_cors(app)
    return app
