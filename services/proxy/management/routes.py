"""The one entry point the proxy app calls: every `/v0/management/*` route."""

from __future__ import annotations

from aiohttp import web

from .api_call import api_call_routes
from .auth_file_routes import auth_file_routes
from .config_lists import list_routes
from .config_maps import map_routes
from .config_routes import config_routes
from .context import ManagementContext
from .key_limit_routes import key_limit_routes
from .key_usage import key_usage_routes
from .logs import log_routes
from .oauth_routes import oauth_routes
from .operations import operation_routes


def management_routes(ctx: ManagementContext) -> list[web.RouteDef]:
    """All management routes; add them with `app.add_routes()` next to `management_middleware`."""
    return [
        *config_routes(ctx),
        *list_routes(ctx),
        *map_routes(ctx),
        *key_limit_routes(ctx),
        *auth_file_routes(ctx),
        *log_routes(ctx),
        *api_call_routes(ctx),
        *operation_routes(ctx),
        *oauth_routes(ctx),
        *key_usage_routes(ctx),
    ]
