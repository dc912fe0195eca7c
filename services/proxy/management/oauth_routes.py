"""OAuth logins and account quota through the management API (CLIProxyAPI's routes and shapes).

- `GET /<starter>-auth-url[?is_webui=1]`: start a login -> `{status, url, state[, flow,
  user_code, expires_in]}`; `is_webui` opens the callback listener on the provider's port.
- `GET|POST /oauth-callback`: the pasted redirect URL (or code/state/error); no management key,
  the state is the secret.
- `GET /get-auth-status?state=` -> `{status: ok|wait|error[, error]}`;
  `DELETE /oauth-session?state=` -> `{status, cancelled}`.
- `GET /quota?auth_index=` (ours): an OAuth account's quota windows, normalized.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from services.core.errors import AppError, BadRequest, NotFound, UpstreamError

from ..oauth import provider as provider_module
from ..oauth.logins import Callback, StateInvalid, valid_state
from ..oauth.provider import LoginError, NotSupported, QuotaFailed, QuotaReport
from ..oauth.providers import PROVIDERS, by_name
from ..oauth.service import OAuthService
from .bodies import is_true, read_object
from .context import ManagementContext
from .middleware import MANAGEMENT_PREFIX, json_response
from .operations import NotImplementedYet

log = structlog.get_logger(__name__)


def _error(status: int, message: str) -> web.Response:
    return json_response({"status": "error", "error": message}, status)


async def _callback_fields(request: web.Request, max_bytes: int) -> dict[str, str]:
    if request.method == "POST":
        body = await read_object(request, max_bytes)
    else:
        body = dict(request.query)
    fields = {k: v.strip() for k, v in body.items() if isinstance(v, str)}
    redirect = fields.get("redirect_url") or fields.get("callbackUrl") or fields.get("url")
    if redirect:
        parsed = OAuthService.parse_pasted(redirect)
        fields.setdefault("code", parsed.code)
        fields.setdefault("state", parsed.state)
        if parsed.error:
            fields.setdefault("error", parsed.error)
    if not fields.get("error") and fields.get("error_description"):
        fields["error"] = fields["error_description"]
    return fields


def _report(report: QuotaReport) -> dict[str, Any]:
    return {
        "plan": report.plan,
        "windows": [
            {
                "id": w.id,
                "label": w.label,
                "used_percent": w.used_percent,
                "remaining_fraction": None
                if w.used_percent is None
                else max(0.0, 1 - w.used_percent / 100),
                "resets_at": w.resets_at,
                "window_seconds": w.window_seconds,
            }
            for w in report.windows
        ],
    }


LOGIN_OPTIONS = ("project_id",)


def _safe_reason(exc: Exception) -> str:
    """The seam's own exceptions carry messages without secrets by contract (provider.py);
    anything else is named by its type only."""
    if type(exc).__module__ == provider_module.__name__:
        return str(exc)[:300]
    log.warning("oauth_quota_crashed", error=type(exc).__name__)
    return type(exc).__name__


def oauth_routes(ctx: ManagementContext) -> list[web.RouteDef]:
    oauth = ctx.oauth
    base = MANAGEMENT_PREFIX
    if oauth is None:
        return []

    def starter(name: str) -> Any:
        provider = PROVIDERS[name]

        async def start(request: web.Request) -> web.Response:
            web_ui = is_true(request.query.get("is_webui"))
            # Starter options a provider's exchange reads (Gemini CLI: `project_id`).
            options = {k: request.query[k] for k in LOGIN_OPTIONS if k in request.query}
            try:
                reply = await oauth.start_login(provider, web_ui=web_ui, options=options)
            except NotSupported as exc:
                raise NotImplementedYet(str(exc), details={"status": "error"}) from None
            except (LoginError, AppError) as exc:
                log.warning("oauth_start_failed", provider=name, reason=str(exc)[:200])
                return json_response({"error": f"failed to generate authorization url: {exc}"}, 500)
            return json_response(reply)

        return start

    async def callback(request: web.Request) -> web.Response:
        fields = await _callback_fields(request, ctx.limits.json_body_max_bytes)
        state = fields.get("state", "")
        if not state or not valid_state(state):
            return _error(400, "invalid state")
        if not fields.get("code") and not fields.get("error"):
            return _error(400, "code or error is required")
        provider = None
        if fields.get("provider"):
            provider = by_name(fields["provider"])
            if provider is None:
                return _error(400, "unsupported provider")
        try:
            oauth.logins.deliver(
                Callback(fields.get("code", ""), state, fields.get("error", "")), provider
            )
        except StateInvalid:
            return _error(400, "invalid state")
        except LookupError as exc:
            return _error(404, str(exc))
        except ValueError as exc:
            return _error(400, str(exc))
        except RuntimeError as exc:
            return _error(409, str(exc))
        return json_response({"status": "ok"})

    async def status(request: web.Request) -> web.Response:
        state = request.query.get("state", "").strip()
        if not state:
            return json_response({"status": "ok"})
        if not valid_state(state):
            return _error(400, "invalid state")
        session = oauth.logins.get(state)
        if session is None:
            return json_response({"status": "error", "error": "unknown or expired state"})
        if session.status == "error":
            return json_response({"status": "error", "error": session.message})
        return json_response({"status": session.status})

    async def cancel(request: web.Request) -> web.Response:
        state = request.query.get("state", "").strip()
        if not valid_state(state):
            return _error(400, "invalid state")
        return json_response({"status": "ok", "cancelled": oauth.logins.cancel(state)})

    async def quota(request: web.Request) -> web.Response:
        index = request.query.get("auth_index", "").strip()
        if not index:
            raise BadRequest("auth_index is required")
        try:
            entry, report = await oauth.quota(index)
        except LookupError:
            raise NotFound("auth not found") from None
        except NotSupported as exc:
            raise NotImplementedYet(str(exc)) from None
        except (LoginError, QuotaFailed) as exc:
            raise UpstreamError(f"quota lookup failed: {exc}") from None
        except Exception as exc:
            raise UpstreamError(f"quota lookup failed: {_safe_reason(exc)}") from None
        return json_response(
            {
                "auth_index": index,
                "provider": entry.provider.info.type if entry.provider else "",
                "email": str(entry.data.get("email") or ""),
                **_report(report),
            }
        )

    routes = [
        web.get(f"{base}/{p.info.starter}-auth-url", starter(t)) for t, p in PROVIDERS.items()
    ]
    return [
        *routes,
        web.get(f"{base}/oauth-callback", callback),
        web.post(f"{base}/oauth-callback", callback),
        web.get(f"{base}/get-auth-status", status),
        web.delete(f"{base}/oauth-session", cancel),
        web.get(f"{base}/quota", quota),
    ]
