"""ChatGPT / Codex subscription login and API, as oauth-providers.md §3 and §11 describe.

Origins: auth.openai.com (authorize, token, device endpoints), chatgpt.com (Codex Responses
API and the usage lookup).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from tests.fakes.oauth.provider import Client, Provider, Routes, error_page
from tests.fakes.oauth.recording import REC, Recorded
from tests.fakes.oauth.state import (
    Account,
    CodeGrant,
    Fault,
    TokenSet,
    iso,
    s256,
    token,
    unsigned_jwt,
)
from tests.fakes.responses_upstream import _Stream

AUTH, CHATGPT = "https://auth.openai.com", "https://chatgpt.com"
CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
REDIRECT_URI = "http://localhost:1455/auth/callback"
DEVICE_REDIRECT_URI = f"{AUTH}/deviceauth/callback"
DEVICE_PAGE = f"{AUTH}/codex/device"
SCOPES = "openid email profile offline_access"
AUTH_CLAIM = "https://api.openai.com/auth"
# Fields the Codex backend refuses with 400 "Unsupported parameter" (it only streams, stores
# nothing, and sets its own limits): CLIProxyAPI's translators strip them for that reason.
UNSUPPORTED = (
    "max_output_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "service_tier",
    "previous_response_id",
)
WINDOWS = {"primary": 5 * 3600, "secondary": 7 * 86400}


def openai_error(
    status: int, message: str, code: str | None, kind: str = "invalid_request_error"
) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status)


def detail(status: int, message: str) -> web.Response:
    """The ChatGPT backend's error shape."""
    return web.json_response({"detail": message}, status=status)


class Codex(Provider):
    name = "codex"
    clients = (
        Client("codex", CLIENT_ID, (REDIRECT_URI, DEVICE_REDIRECT_URI), frozenset(SCOPES.split())),
    )
    access_ttl = 10 * 86400
    token_prefix = ("eyJhbGciOi-fake-", "rt_")

    def routes(self) -> Routes:
        return {
            AUTH: [
                web.get("/oauth/authorize", self.authorize),
                web.post("/oauth/token", self.token_endpoint),
                web.post("/api/accounts/deviceauth/usercode", self.device_usercode),
                web.post("/api/accounts/deviceauth/token", self.device_poll),
                web.get("/codex/device", self.device_page),
            ],
            CHATGPT: [
                web.post("/backend-api/codex/responses", self.responses),
                web.get("/backend-api/wham/usage", self.usage),
            ],
        }

    def add_account(self, email: str | None = None, **fields: Any) -> Account:
        fields.setdefault("plan", "plus")
        return super().add_account(email, **fields)

    def default_quota(self, account: Account) -> dict[str, Any]:
        now = int(time.time())
        windows = {
            f"{name}_window": {
                "used_percent": 10 if name == "primary" else 25,
                "limit_window_seconds": seconds,
                "reset_after_seconds": seconds,
                "reset_at": now + seconds,
            }
            for name, seconds in WINDOWS.items()
        }
        rate_limit = {"allowed": True, "limit_reached": False, **windows}
        return {"plan_type": account.plan, "rate_limit": rate_limit, "credits": None}

    # -- tokens -------------------------------------------------------------------------------

    def id_token(self, tokens: TokenSet) -> str:
        account, now = tokens.account, int(time.time())
        auth = {
            "chatgpt_account_id": account.id,
            "chatgpt_plan_type": account.plan,
            "chatgpt_user_id": f"user-{account.id[:20]}",
            "organizations": [{"id": account.org_id, "is_default": True, "role": "owner"}],
            "chatgpt_subscription_active_start": iso(now - 86400),
            "chatgpt_subscription_active_until": iso(now + 30 * 86400),
        }
        return unsigned_jwt(
            {
                "iss": AUTH,
                "aud": [CLIENT_ID],
                "sub": f"auth0|{account.id}",
                "email": account.email,
                "email_verified": True,
                "iat": now,
                "exp": now + 3600,
                AUTH_CLAIM: auth,
            }
        )

    def reused_error(self) -> web.Response:
        message = "Your refresh token has already been used to generate a new access token."
        return openai_error(401, message, "refresh_token_reused")

    # -- scripting ----------------------------------------------------------------------------

    def usage_limit(
        self, account: Account, resets_in: int = 3600, times: int | None = None
    ) -> None:
        """429 usage_limit_reached until now + resets_in (or for `times` requests)."""
        resets_at = int(time.time()) + resets_in
        error = {
            "type": "usage_limit_reached",
            "message": "The usage limit has been reached",
            "plan_type": account.plan,
            "resets_at": resets_at,
            "resets_in_seconds": resets_in,
        }

        def respond() -> web.Response:
            return web.json_response({"error": error}, status=429)

        account.faults.append(Fault("inference", respond, times, until=resets_at))

    def set_usage(self, account: Account, window: str, used_percent: float, reset_in: int) -> None:
        """Set the `primary` or `secondary` window of `/backend-api/wham/usage`."""
        entry = account.quota["rate_limit"][f"{window}_window"]
        entry.update(
            used_percent=used_percent,
            reset_after_seconds=reset_in,
            reset_at=int(time.time()) + reset_in,
        )

    # -- device login (§3.1: JSON bodies, 403 while pending) ----------------------------------

    async def device_usercode(self, request: web.Request) -> web.Response:
        rec: Recorded = request[REC]
        rec.label(self.name, "device_start")
        body = rec.body if isinstance(rec.body, dict) else {}
        if rec.encoding != "json" or body.get("client_id") != CLIENT_ID:
            return openai_error(400, "client_id is missing or unknown", "invalid_client")
        grant, _ = self.start_device(self.client(), DEVICE_PAGE)
        grant.interval = 0  # the reference knows no slow_down here: 403 means pending
        answer = {
            "device_auth_id": grant.device_code,
            "user_code": grant.user_code,
            "interval": str(self.device.interval),
        }
        return web.json_response(answer)

    async def device_poll(self, request: web.Request) -> web.Response:
        rec: Recorded = request[REC]
        rec.label(self.name, "device_poll")
        body = rec.body if isinstance(rec.body, dict) else {}
        grant = self.grants.devices.get(str(body.get("device_auth_id", "")))
        if grant is not None and body.get("user_code") != grant.user_code:
            grant = None
        outcome = self.poll_device(grant)
        if grant is not None and grant.account is not None:
            rec.label(self.name, "device_poll", grant.account)
        if outcome in ("pending", "slow_down"):
            return openai_error(403, "Device authorization is pending", "deviceauth_pending")
        if outcome == "invalid":
            return openai_error(404, "Unknown device authorization", "deviceauth_not_found")
        if outcome != "approved":
            code = "access_denied" if outcome == "denied" else "expired_token"
            return openai_error(400, f"Device authorization failed: {code}", code)
        assert grant is not None and grant.account is not None
        verifier = token("", 64)
        code = token("ac_", 24)
        self.grants.codes[code] = CodeGrant(
            grant.account, self.name, DEVICE_REDIRECT_URI, SCOPES, "", s256(verifier)
        )
        answer = {
            "authorization_code": code,
            "code_verifier": verifier,
            "code_challenge": s256(verifier),
        }
        return web.json_response(answer)

    # -- chatgpt.com --------------------------------------------------------------------------

    def authenticate(self, rec: Recorded, kind: str) -> tuple[Account | None, web.Response | None]:
        grant, problem = self.access(rec, kind)
        if grant is None or problem:
            message = "Provided authentication token is expired. Please try signing in again."
            if problem != "expired":
                message = "Could not parse your authentication token. Please try signing in again."
            return None, openai_error(
                401, message, "token_expired" if problem == "expired" else None
            )
        account = grant.account
        if rec.headers.get("Chatgpt-Account-Id") != account.id:
            return None, detail(403, "Chatgpt-Account-Id is missing or not this token's account")
        return account, None

    async def responses(self, request: web.Request) -> web.StreamResponse:
        rec: Recorded = request[REC]
        account, denied = self.authenticate(rec, "inference")
        if account is None:
            return denied or detail(401, "Unauthorized")
        body = rec.body if isinstance(rec.body, dict) else {}
        if body.get("stream") is not True:
            return detail(400, "Stream must be set to true")
        if body.get("store") is not False:
            return detail(400, "Store must be set to false")
        if "instructions" not in body:
            return detail(400, "Instructions are required")
        if not isinstance(body.get("model"), str):
            return detail(400, "Model is required")
        refused = next((k for k in UNSUPPORTED if k in body), None)
        if refused is not None:
            return detail(400, f"Unsupported parameter: {refused}")
        scripted = account.fault("inference")
        if scripted is not None:
            return scripted
        return await _Stream(self.next_reply(account), body["model"]).write(request)

    async def usage(self, request: web.Request) -> web.Response:
        account, denied = self.authenticate(request[REC], "quota")
        if account is None:
            return denied or detail(401, "Unauthorized")
        return account.fault("quota") or web.json_response(account.quota)

    async def device_page(self, request: web.Request) -> web.Response:
        if not request.query.get("user_code"):
            return error_page(400, "Enter the code shown by your device")
        return await super().device_page(request)
