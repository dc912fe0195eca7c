"""Claude (Pro/Max) subscription login and API, as oauth-providers.md §2 and §11 describe.

Origins: claude.ai (authorize), platform.claude.com (token; v6 used api.anthropic.com),
api.anthropic.com (profile, roles, usage, Messages API with an OAuth token).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from tests.fakes.anthropic_upstream import _message, error_json, stream_message
from tests.fakes.oauth.provider import Client, Provider, Routes, oauth_error
from tests.fakes.oauth.recording import REC, Recorded
from tests.fakes.oauth.state import Account, CodeGrant, Fault, TokenSet, iso, unix
from tests.fakes.wire_base import estimate_tokens

CLAUDE_AI, PLATFORM, API = (
    "https://claude.ai",
    "https://platform.claude.com",
    "https://api.anthropic.com",
)
CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
REDIRECT_URI = "http://localhost:54545/callback"
SCOPES_V7 = (
    "user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload"
)
SCOPES_V6 = "org:create_api_key user:profile user:inference"
OAUTH_BETA = "oauth-2025-04-20"
WINDOWS = {"5h": ("five_hour", 5 * 3600), "7d": ("seven_day", 7 * 86400)}
RATE_LIMITED = "This request would exceed your account's rate limit. Please try again later."
TOKEN_PROBLEMS = {
    "missing": "x-api-key header is required",
    "unknown": "Invalid bearer token",
    "expired": "OAuth token has expired. Please obtain a new token or refresh your existing token.",
    "revoked": "OAuth token has been revoked. Please obtain a new token.",
}


def anthropic_error(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(error_json(status, message), status=status, headers=headers)


class Claude(Provider):
    name = "claude"
    clients = (
        Client(
            "claude",
            CLIENT_ID,
            (REDIRECT_URI,),
            frozenset(SCOPES_V7.split() + SCOPES_V6.split()),
            body="json",
        ),
    )
    access_ttl = 8 * 3600
    token_prefix = ("sk-ant-oat01-", "sk-ant-ort01-")

    def routes(self) -> Routes:
        messages = [
            web.post("/v1/messages", self.messages),
            web.post("/v1/messages/count_tokens", self.count_tokens),
        ]
        return {
            CLAUDE_AI: [web.get("/oauth/authorize", self.authorize)],
            PLATFORM: [web.post("/v1/oauth/token", self.token_endpoint)],
            API: [
                web.post("/v1/oauth/token", self.token_endpoint),
                web.get("/api/oauth/profile", self.profile),
                web.get("/api/oauth/claude_cli/roles", self.roles),
                web.get("/api/oauth/usage", self.usage),
                *messages,
            ],
        }

    def default_quota(self, account: Account) -> dict[str, Any]:
        now = time.time()
        return {
            "five_hour": {"utilization": 10.0, "resets_at": iso(now + WINDOWS["5h"][1])},
            "seven_day": {"utilization": 20.0, "resets_at": iso(now + WINDOWS["7d"][1])},
            "seven_day_sonnet": {"utilization": 5.0, "resets_at": iso(now + WINDOWS["7d"][1])},
            "seven_day_opus": None,
            "extra_usage": {"is_enabled": False, "utilization": None},
        }

    def pasted_code(self) -> str:
        """What the user would paste from the manual flow: `code#state` of the last authorize."""
        assert self.last_redirect is not None
        query = parse_qs(urlsplit(self.last_redirect).query)
        return f"{query['code'][0]}#{query.get('state', [''])[0]}"

    # -- tokens -----------------------------------------------------------------------------

    def token_body(self, tokens: TokenSet) -> dict[str, Any]:
        account = tokens.account
        return {
            **super().token_body(tokens),
            "organization": {"uuid": account.org_id, "name": account.org_name},
            "account": {"uuid": account.id, "email_address": account.email},
        }

    def exchange_problem(self, grant: CodeGrant, form: Mapping[str, str]) -> web.Response | None:
        # The exchange carries the state (from the redirect, or the part after '#').
        if form.get("state") != grant.state:
            return oauth_error(400, "invalid_request", "Invalid state")
        return None

    def refresh_error(self, kind: str, retry_after: int) -> web.Response:
        if kind == "rate_limited":
            return anthropic_error(429, "Rate limited.", {"Retry-After": str(retry_after)})
        return super().refresh_error(kind, retry_after)

    # -- scripting ----------------------------------------------------------------------------

    def rate_limit(
        self,
        account: Account,
        windows: tuple[str, ...] = ("5h",),
        reset_in: int = 3600,
        retry_after: int | None = None,
        times: int | None = None,
    ) -> None:
        """429 with the unified rate-limit headers: each window in `windows` ("5h", "7d",
        "7d_oi") rejected until now + reset_in; lasts until then unless `times` is given."""
        reset = int(time.time()) + reset_in
        headers = {
            "anthropic-ratelimit-unified-status": "rejected",
            "anthropic-ratelimit-unified-reset": str(reset),
            "retry-after": str(reset_in if retry_after is None else retry_after),
        }
        for window in ("5h", "7d", "7d_oi"):
            rejected = window in windows
            headers[f"anthropic-ratelimit-unified-{window}-status"] = (
                "rejected" if rejected else "allowed"
            )
            if rejected:
                headers[f"anthropic-ratelimit-unified-{window}-reset"] = str(reset)

        def respond() -> web.Response:
            return anthropic_error(429, RATE_LIMITED, headers)

        account.faults.append(Fault("inference", respond, times, until=reset))

    def set_usage(self, account: Account, window: str, utilization: float, reset_in: int) -> None:
        """Set one `/api/oauth/usage` window ("five_hour", "seven_day", ...)."""
        account.quota[window] = {
            "utilization": utilization,
            "resets_at": iso(time.time() + reset_in),
        }

    # -- api.anthropic.com ----------------------------------------------------------------------

    def authenticate(self, rec: Recorded, kind: str) -> tuple[Account | None, web.Response | None]:
        if "x-api-key" in rec.headers:
            return None, anthropic_error(401, "invalid x-api-key")
        grant, problem = self.access(rec, kind)
        if grant is None or problem:
            return None, anthropic_error(401, TOKEN_PROBLEMS[problem or "unknown"])
        return grant.account, None

    async def profile(self, request: web.Request) -> web.Response:
        account, denied = self.authenticate(request[REC], "profile")
        if account is None:
            return denied or anthropic_error(401, "Invalid bearer token")
        return web.json_response(
            {
                "account": {
                    "uuid": account.id,
                    "email": account.email,
                    "full_name": "Fake User",
                    "display_name": "Fake",
                    "has_claude_max": account.plan == "max",
                    "has_claude_pro": account.plan == "pro",
                },
                "organization": {
                    "uuid": account.org_id,
                    "name": account.org_name,
                    "organization_type": f"claude_{account.plan}",
                },
            }
        )

    async def roles(self, request: web.Request) -> web.Response:
        account, denied = self.authenticate(request[REC], "profile")
        if account is None:
            return denied or anthropic_error(401, "Invalid bearer token")
        return web.json_response(
            {
                "organization_role": "admin",
                "workspace_role": None,
                "organization_name": account.org_name,
            }
        )

    async def usage(self, request: web.Request) -> web.Response:
        account, denied = self.authenticate(request[REC], "quota")
        if account is None:
            return denied or anthropic_error(401, "Invalid bearer token")
        return account.fault("quota") or web.json_response(account.quota)

    def api_problem(self, rec: Recorded) -> web.Response | None:
        """The headers the Messages API needs with an OAuth token (§2.4)."""
        if "anthropic-version" not in rec.headers:
            return anthropic_error(400, "anthropic-version: header is required")
        betas = {b.strip() for b in rec.headers.get("anthropic-beta", "").split(",")}
        if OAUTH_BETA not in betas:
            return anthropic_error(401, "OAuth authentication is currently not supported.")
        if rec.query.get("beta") != "true":
            return anthropic_error(400, "the fake requires ?beta=true, as Claude Code sends it")
        if not isinstance(rec.body, dict):
            return anthropic_error(400, "The request body is not valid JSON.")
        return None

    async def messages(self, request: web.Request) -> web.StreamResponse:
        rec: Recorded = request[REC]
        account, denied = self.authenticate(rec, "inference")
        problem = denied or self.api_problem(rec)
        if account is None or problem:
            return problem or anthropic_error(401, "Invalid bearer token")
        for name in ("model", "max_tokens", "messages"):
            if name not in rec.body:
                return anthropic_error(400, f"{name}: Field required")
        scripted = account.fault("inference")
        if scripted is not None:
            return scripted
        reply, model = self.next_reply(account), str(rec.body["model"])
        headers = self.usage_headers(account)
        if rec.body.get("stream"):
            return await stream_message(request, reply, model, headers)
        return web.json_response(_message(reply, model), headers=headers)

    async def count_tokens(self, request: web.Request) -> web.Response:
        rec: Recorded = request[REC]
        account, denied = self.authenticate(rec, "inference")
        problem = denied or self.api_problem(rec)
        if account is None or problem:
            return problem or anthropic_error(401, "Invalid bearer token")
        return web.json_response({"input_tokens": estimate_tokens(rec.body.get("messages"))})

    def usage_headers(self, account: Account) -> dict[str, str]:
        """Unified rate-limit headers of a successful answer, from the account's usage."""
        headers = {"anthropic-ratelimit-unified-status": "allowed"}
        for window, (field, _) in WINDOWS.items():
            usage = account.quota.get(field)
            if usage:
                prefix = f"anthropic-ratelimit-unified-{window}"
                headers[f"{prefix}-status"] = "allowed"
                headers[f"{prefix}-utilization"] = str(usage["utilization"] / 100)
                headers[f"{prefix}-reset"] = str(unix(usage["resets_at"]))
        return headers
