"""The dashboard application: `create_app(settings)` assembles each feature's routes (its pages,
and its JSON API under /api), the middleware and the error handlers.

No I/O happens here; the Postgres pool, the proxies' HTTP session and the background resync
start in the lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from services.core.db import open_pool
from services.core.discovery import Replicas, Resolver
from services.core.errors import AppError
from services.core.logging import register_secret
from services.dashboard.accounts import api as accounts_api
from services.dashboard.accounts import pages as accounts_pages
from services.dashboard.admin import api as admin_api
from services.dashboard.admin import maintenance
from services.dashboard.admin import pages as admin_pages
from services.dashboard.admin.health import DatabaseProbe
from services.dashboard.containers import api as containers_api
from services.dashboard.containers import pages as containers_pages
from services.dashboard.containers.engine import DockerLink
from services.dashboard.keys import api as keys_api
from services.dashboard.keys import pages as keys_pages
from services.dashboard.keys.sync import push_api_keys
from services.dashboard.logs import api as logs_api
from services.dashboard.logs import pages as logs_pages
from services.dashboard.monitoring import api as monitoring_api
from services.dashboard.monitoring import checker
from services.dashboard.monitoring import pages as monitoring_pages
from services.dashboard.monitoring.probes import Rates
from services.dashboard.notifications import api as notifications_api
from services.dashboard.notifications import pages as notifications_pages
from services.dashboard.oauth_accounts import api as oauth_api
from services.dashboard.oauth_accounts import pages as oauth_pages
from services.dashboard.oauth_accounts import proxy_files
from services.dashboard.providers import api as providers_api
from services.dashboard.providers import pages as providers_pages
from services.dashboard.providers.sync import push_lists
from services.dashboard.proxies import api as proxies_api
from services.dashboard.proxies import pages as proxies_pages
from services.dashboard.proxies.aliases import copy_aliases
from services.dashboard.proxies.catalog import catalog_key
from services.dashboard.proxies.client import ManagementClient
from services.dashboard.proxies.config import copy_settings
from services.dashboard.proxies.discovery import ReplicaWatcher
from services.dashboard.proxies.link import ProxyLink
from services.dashboard.proxies.sync import ProxySync
from services.dashboard.quota import api as quota_api
from services.dashboard.quota import pages as quota_pages
from services.dashboard.settings import DashboardSettings
from services.dashboard.updates import api as updates_api
from services.dashboard.updates import pages as updates_pages
from services.dashboard.updates.deploy import Deployer
from services.dashboard.usage import api as usage_api
from services.dashboard.usage import pages as usage_pages
from services.dashboard.web import errors, templating
from services.dashboard.web.middleware import (
    CsrfMiddleware,
    NulGuardMiddleware,
    RequestContextMiddleware,
)
from services.dashboard.web.secrets_display import digest

log = structlog.get_logger(__name__)
HERE = Path(__file__).parent
MAX_BODY = 2 * 1024 * 1024
FEATURES = (
    "accounts",
    "keys",
    "providers",
    "oauth_accounts",
    "quota",
    "usage",
    "proxies",
    "admin",
    "notifications",
    "containers",
    "updates",
    "logs",
    "monitoring",
)
# Each feature keeps its pages' templates; web/templates holds the shell (base, errors, flashes).
# What a replica that appears copies from one already in service (then the resync pushers run).
SEEDERS = (copy_settings, copy_aliases, proxy_files.copy_missing)
TEMPLATE_DIRS = (HERE / "web" / "templates", *(HERE / name / "templates" for name in FEATURES))
API_ROUTES: list[BaseRoute] = [
    *accounts_api.routes,
    *keys_api.routes,
    *providers_api.routes,
    *oauth_api.routes,
    *quota_api.routes,
    *usage_api.routes,
    *proxies_api.routes,
    *admin_api.routes,
    *notifications_api.routes,
    *containers_api.routes,
    *updates_api.routes,
    *logs_api.routes,
    *monitoring_api.routes,
]
PAGE_ROUTES: list[BaseRoute] = [
    *accounts_pages.routes,
    *keys_pages.routes,
    *providers_pages.routes,
    *oauth_pages.routes,
    *quota_pages.routes,
    *usage_pages.routes,
    *proxies_pages.routes,
    *admin_pages.routes,
    *notifications_pages.routes,
    *containers_pages.routes,
    *updates_pages.routes,
    *logs_pages.routes,
    *monitoring_pages.routes,
]


def create_app(
    settings: DashboardSettings,
    *,
    resync_interval_s: float = 60.0,
    resolver: Resolver | None = None,
) -> Starlette:
    """Build the app; `resync_interval_s=0` resyncs once at start only (tests). `resolver`
    answers the DNS lookups of PROXY_URL's `dns+` entries (tests map names to addresses)."""
    for secret in (
        settings.jwt_secret,
        settings.management_api_key,
        settings.provider_encryption_key,
        *([settings.provider_encryption_key_old] if settings.provider_encryption_key_old else []),
    ):
        register_secret(secret.get_secret_value())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=10, connect=5)
        async with (
            open_pool(
                settings.database_url.get_secret_value(), autocommit=True, name="dashboard"
            ) as pool,
            aiohttp.ClientSession(timeout=timeout) as http,
            contextlib.aclosing(DatabaseProbe(settings.database_url.get_secret_value())) as probe,
        ):
            replicas = Replicas.from_setting(settings.proxy_url, resolver)
            await replicas.refresh()
            proxies = _proxy_link(settings, http, replicas)
            watcher = ReplicaWatcher(pool, proxies.sync, settings.proxy_discovery_interval, SEEDERS)
            docker = DockerLink(settings.docker_host, settings.compose_project)
            deployer = Deployer(pool, docker, settings.update_health_timeout)
            app.state.pool, app.state.proxies = pool, proxies
            app.state.health_probe = probe
            app.state.replica_watcher = watcher
            app.state.docker, app.state.deployer = docker, deployer
            app.state.monitoring_rates = Rates()
            tasks = [
                asyncio.create_task(maintenance.run_forever(pool, proxies.sync, resync_interval_s)),
                asyncio.create_task(watcher.run_forever()),
                asyncio.create_task(
                    checker.run_forever(
                        pool, proxies.client, docker, settings.notification_check_interval
                    )
                ),
            ]
            log.info("dashboard_started", proxies=len(replicas.urls))
            try:
                yield
            finally:
                await deployer.wait(30)
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                docker.close()

    app = Starlette(
        routes=[
            Mount("/api", routes=API_ROUTES),
            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
            *PAGE_ROUTES,
        ],
        middleware=[
            Middleware(RequestContextMiddleware),
            Middleware(NulGuardMiddleware),
            Middleware(CsrfMiddleware, dashboard_url=settings.dashboard_url),
        ],
        exception_handlers={
            AppError: errors.render_app_error,
            HTTPException: errors.render_http_exception,
            Exception: errors.render_unexpected,
        },
        lifespan=lifespan,
        max_body_size=MAX_BODY,
    )
    app.state.settings = settings
    app.state.templates = templating.build(TEMPLATE_DIRS, HERE / "static")
    return app


def _proxy_link(
    settings: DashboardSettings, http: aiohttp.ClientSession, replicas: Replicas
) -> ProxyLink:
    key = catalog_key(settings.management_api_key.get_secret_value())
    register_secret(key)
    client = ManagementClient(http, replicas, settings.management_api_key.get_secret_value())
    # A full resync writes api-keys first, then the provider lists (keys, then custom providers).
    pushers = (push_api_keys, push_lists)
    sync = ProxySync(
        client,
        settings.encryption_key,
        digest(key),
        settings.fetch_models_allowed,
        pushers,
        older_keys=settings.opening_keys[1:],
    )
    return ProxyLink(client=client, sync=sync, catalog_key=key)
