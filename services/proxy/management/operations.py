"""Small operational routes: reset-quota, latest-version, usage-queue, plugins, OAuth stand-ins."""

from __future__ import annotations

import structlog
from aiohttp import web

from services.core.errors import AppError, BadRequest, NotFound

from .bodies import query_int, read_json
from .context import ManagementContext
from .middleware import MANAGEMENT_PREFIX, json_response

log = structlog.get_logger(__name__)

USAGE_QUEUE_MAX = 1000
# Removed from CLIProxyAPI and not carried here; every other starter is oauth_routes.py's.
RETIRED_OAUTH_PROVIDERS = ("qwen", "iflow")


class NotImplementedYet(AppError):
    status = 501
    code = "not_implemented"


def operation_routes(ctx: ManagementContext) -> list[web.RouteDef]:
    async def reset_quota(request: web.Request) -> web.Response:
        body = await read_json(request, ctx.limits.json_body_max_bytes, default={})
        if not isinstance(body, dict):
            raise BadRequest("invalid body: expected a JSON object")
        index = body.get("auth_index", body.get("authIndex"))
        if index is not None and (not isinstance(index, str) or not index.strip()):
            raise BadRequest("invalid auth_index")
        if index and ctx.credential_for(index.strip()) is None:
            raise NotFound("auth not found")
        cleared = ctx.reset_cooldowns(index.strip() if index else None)
        log.info("management_cooldowns_reset", auth_index=index or "all", cleared=cleared)
        return json_response({"status": "ok", "cleared": cleared})

    async def latest_version(_request: web.Request) -> web.Response:
        # No internet here: the operator pins the newest known version in config.yaml.
        configured = ctx.store.current.config.latest_version.strip()
        return json_response({"latest-version": configured or ctx.version})

    async def usage_queue(request: web.Request) -> web.Response:
        count = query_int(request, "count", 1, minimum=1, maximum=USAGE_QUEUE_MAX)
        return json_response(await ctx.usage_pop(count))

    async def plugins(_request: web.Request) -> web.Response:
        return json_response({"plugins": []})

    async def oauth_retired(_request: web.Request) -> web.Response:
        raise NotImplementedYet(
            "This provider's login is not supported; upload its credential file instead",
            details={"status": "error"},
        )

    base = MANAGEMENT_PREFIX
    routes = [
        web.post(f"{base}/reset-quota", reset_quota),
        web.get(f"{base}/latest-version", latest_version),
        web.get(f"{base}/usage-queue", usage_queue),
        web.get(f"{base}/plugins", plugins),
    ]
    routes += [web.get(f"{base}/{p}-auth-url", oauth_retired) for p in RETIRED_OAUTH_PROVIDERS]
    return routes
