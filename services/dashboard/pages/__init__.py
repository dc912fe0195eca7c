"""Server-rendered pages (Jinja2), progressively enhanced with htmx; each posts plain forms."""

from __future__ import annotations

from starlette.routing import BaseRoute

from services.dashboard.accounts import pages as accounts_pages
from services.dashboard.keys import pages as keys_pages
from services.dashboard.pages import admin, overview, settings_page
from services.dashboard.providers import pages as providers_pages
from services.dashboard.proxies import pages as proxies_pages
from services.dashboard.usage import pages as usage_pages

routes: list[BaseRoute] = [
    *accounts_pages.routes,
    *overview.routes,
    *keys_pages.routes,
    *providers_pages.routes,
    *admin.routes,
    *proxies_pages.routes,
    *settings_page.routes,
    *usage_pages.routes,
]
