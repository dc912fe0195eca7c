"""The JSON API mounted at /api: every route the pages use, in the seed's paths and fields."""

from __future__ import annotations

from starlette.routing import BaseRoute

from services.dashboard.accounts import api as accounts_api
from services.dashboard.api import admin, overview
from services.dashboard.keys import api as keys_api
from services.dashboard.providers import api as providers_api
from services.dashboard.proxies import api as proxies_api
from services.dashboard.usage import api as usage_api

routes: list[BaseRoute] = [
    *accounts_api.routes,
    *keys_api.routes,
    *providers_api.routes,
    *admin.routes,
    *overview.routes,
    *proxies_api.routes,
    *usage_api.routes,
]
