"""The JSON API mounted at /api: every route the pages use, in the seed's paths and fields."""

from __future__ import annotations

from starlette.routing import BaseRoute

from services.dashboard.accounts import api as accounts_api
from services.dashboard.api import admin, keys, pricing, providers, proxy, usage

routes: list[BaseRoute] = [
    *accounts_api.routes,
    *keys.routes,
    *providers.routes,
    *admin.routes,
    *proxy.routes,
    *usage.routes,
    *pricing.routes,
]
