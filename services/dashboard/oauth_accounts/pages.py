"""The OAuth accounts page (/dashboard/oauth), an account's settings page, and their forms.

Connecting and importing run in the browser against /api/oauth (static/oauth.js: a login is a
sequence of calls and polls); the list's actions are plain forms that work without script.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import guard
from services.dashboard.oauth_accounts import accounts, proxy_files
from services.dashboard.oauth_accounts.fields import TYPES, check_name, check_settings
from services.dashboard.oauth_accounts.logins import DEVICE_TYPES
from services.dashboard.oauth_accounts.views import view
from services.dashboard.proxies.client import ProxyUnavailable
from services.dashboard.proxies.link import link
from services.dashboard.web import deps, flash
from services.dashboard.web.forms import form_action
from services.dashboard.web.inputs import raw_body
from services.dashboard.web.templating import render

BACK = "/dashboard/oauth"
LABELS = {
    "claude": "Claude (Pro/Max)",
    "codex": "ChatGPT (Codex)",
    "antigravity": "Antigravity",
    "gemini": "Gemini CLI",
    "kimi": "Kimi",
    "xai": "xAI Grok",
}


async def oauth_page(request: Request) -> Response:
    user = await guard.require_user(request)
    actor = guard.actor(request, user)
    error = None
    try:
        views = await accounts.visible(deps.pool(request), link(request).client, actor)
    except ProxyUnavailable as exc:
        views, error = [], exc.message
    context = {
        "accounts": views,
        "types": [(t, LABELS[t], t in DEVICE_TYPES) for t in TYPES],
        "proxy_error": error,
    }
    return render(request, "oauth_accounts.html", context, user=user, active="oauth")


async def settings_page(request: Request) -> Response:
    user = await guard.require_user(request)
    actor = guard.actor(request, user)
    name = check_name(request.path_params["name"])
    pool, client = deps.pool(request), link(request).client
    owner = await accounts.manageable(pool, client, actor, name)
    item = await accounts.entry(client, name)
    content = _file_fields(await proxy_files.download(client, name))
    context = {
        "account": view(item, owner, actor.id, actor.is_admin),
        "file": content,
        "aliases_text": "\n".join(
            f"{a.get('name')} {'+=' if a.get('fork') else '='} {a.get('alias')}"
            for a in content.get("model_aliases") or []
            if isinstance(a, dict)
        ),
        "models": await proxy_files.models(client, name),
    }
    return render(request, "oauth_account.html", context, user=user, active="oauth")


def _file_fields(raw: bytes) -> dict[str, Any]:
    """The settings a form shows; tokens never leave this function."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    keep = ("prefix", "priority", "proxy_url", "note", "excluded_models", "model_aliases")
    return {k: data[k] for k in keep if isinstance(data, dict) and k in data}


def _account_back(request: Request) -> str:
    return f"{BACK}/{request.path_params['name']}"


@form_action(_account_back)
async def save_settings(request: Request) -> Response:
    user = await guard.require_user(request)
    name = check_name(request.path_params["name"])
    fields = check_settings(await raw_body(request))
    await accounts.update_settings(
        deps.pool(request), link(request).client, guard.actor(request, user), name, fields
    )
    return flash.redirect(request, f"{BACK}/{name}", "Settings saved on every proxy")


@form_action(BACK)
async def toggle(request: Request) -> Response:
    user = await guard.require_user(request)
    name = check_name(request.path_params["name"])
    disabled = (await raw_body(request)).get("disabled") == "true"
    await accounts.set_disabled(
        deps.pool(request), link(request).client, guard.actor(request, user), name, disabled
    )
    return flash.redirect(request, BACK, f"{name} {'disabled' if disabled else 'enabled'}")


@form_action(BACK)
async def delete(request: Request) -> Response:
    user = await guard.require_user(request)
    name = check_name(request.path_params["name"])
    await accounts.delete(
        deps.pool(request), link(request).client, guard.actor(request, user), name
    )
    return flash.redirect(request, BACK, f"{name} deleted")


@form_action(BACK)
async def claim(request: Request) -> Response:
    user = await guard.require_user(request)
    name = check_name(request.path_params["name"])
    await accounts.claim(deps.pool(request), link(request).client, guard.actor(request, user), name)
    return flash.redirect(request, BACK, f"{name} is now yours")


routes = [
    Route("/dashboard/oauth", oauth_page, methods=["GET"]),
    Route("/dashboard/oauth/{name}", settings_page, methods=["GET"]),
    Route("/dashboard/oauth/{name}/settings", save_settings, methods=["POST"]),
    Route("/dashboard/oauth/{name}/toggle", toggle, methods=["POST"]),
    Route("/dashboard/oauth/{name}/delete", delete, methods=["POST"]),
    Route("/dashboard/oauth/{name}/claim", claim, methods=["POST"]),
]
