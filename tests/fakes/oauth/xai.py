"""xAI Grok CLI login and Responses API, as oauth-providers.md §6 and §11 describe.

Origins: auth.x.ai (OIDC discovery, device authorization, token, verification page, and the
v7.1 PKCE authorize), cli-chat-proxy.grok.com (Responses API for OAuth tokens), api.x.ai
(the plain API, for auth files whose base_url points there).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from tests.fakes.oauth.provider import DEVICE_GRANT, Client, Provider, Routes, oauth_error
from tests.fakes.oauth.recording import REC, Recorded
from tests.fakes.oauth.state import TokenSet, unsigned_jwt
from tests.fakes.responses_upstream import _items, _response, _Stream

AUTH, API, CLI_PROXY = "https://auth.x.ai", "https://api.x.ai", "https://cli-chat-proxy.grok.com"
CLIENT_ID = "b1a00492-073a-47ea-816f-4c329264a828"
SCOPE = "openid profile email offline_access grok-cli:access api:access"
REDIRECT_URI = "http://127.0.0.1:56121/callback"  # the v7.1.x PKCE flow
DISCOVERY = {
    "issuer": AUTH,
    "authorization_endpoint": f"{AUTH}/oauth2/auth",
    "token_endpoint": f"{AUTH}/oauth2/token",
    "device_authorization_endpoint": f"{AUTH}/oauth2/device/code",
    "response_types_supported": ["code"],
    "grant_types_supported": ["authorization_code", "refresh_token", DEVICE_GRANT],
    "code_challenge_methods_supported": ["S256"],
    "scopes_supported": SCOPE.split(),
}
PROXY_HEADERS = {  # §6: extra headers on cli-chat-proxy.grok.com; None = any value
    "X-XAI-Token-Auth": "xai-grok-cli",
    "x-grok-client-version": None,
    "x-grok-client-identifier": None,
    "x-authenticateresponse": "authenticate-response",
}


def xai_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "error": message}, status=status)


class XAI(Provider):
    name = "xai"
    clients = (Client("xai", CLIENT_ID, (REDIRECT_URI,), frozenset(SCOPE.split())),)
    device_grant_supported = True
    token_prefix = ("xai-at-", "xai-rt-")

    def routes(self) -> Routes:
        return {
            AUTH: [
                web.get("/.well-known/openid-configuration", self.discovery),
                web.post("/oauth2/device/code", self.device_code),
                web.post("/oauth2/token", self.token_endpoint),
                web.get("/oauth2/auth", self.authorize),
                web.get("/device", self.device_page),
            ],
            CLI_PROXY: [web.post("/v1/responses", self.responses)],
            API: [web.post("/v1/responses", self.responses)],
        }

    def id_token(self, tokens: TokenSet) -> str:
        now = int(time.time())
        claims = {
            "iss": AUTH,
            "aud": CLIENT_ID,
            "sub": tokens.account.id,
            "email": tokens.account.email,
        }
        return unsigned_jwt({**claims, "iat": now, "exp": now + 3600})

    async def discovery(self, request: web.Request) -> web.Response:
        request[REC].label(self.name, "discovery")
        return web.json_response(DISCOVERY)

    async def device_code(self, request: web.Request) -> web.Response:
        rec: Recorded = request[REC]
        rec.label(self.name, "device_start")
        form = rec.body if isinstance(rec.body, dict) else {}
        if rec.encoding != "form" or form.get("client_id") != CLIENT_ID:
            return oauth_error(401, "invalid_client", "client_id is missing or unknown")
        scopes = set(form.get("scope", "").split())
        if not scopes or not scopes <= set(SCOPE.split()):
            return oauth_error(400, "invalid_scope", "scope is missing or unknown")
        _, body = self.start_device(self.client(), f"{AUTH}/device")
        return web.json_response(body)

    async def responses(self, request: web.Request) -> web.StreamResponse:
        rec: Recorded = request[REC]
        grant, problem = self.access(rec, "inference")
        if grant is None or problem:
            return xai_error(401, "Unauthenticated", f"OAuth token is {problem or 'invalid'}")
        if rec.origin == CLI_PROXY:
            for name, value in PROXY_HEADERS.items():
                given = rec.headers.get(name)
                if not given or (value is not None and given != value):
                    return xai_error(403, "Forbidden", f"header {name} is missing or wrong")
        body: dict[str, Any] = rec.body if isinstance(rec.body, dict) else {}
        if not isinstance(body.get("model"), str) or "input" not in body:
            return xai_error(
                400, "Client specified an invalid argument", "model and input are required"
            )
        scripted = grant.account.fault("inference")
        if scripted is not None:
            return scripted
        reply = self.next_reply(grant.account)
        if body.get("stream"):
            return await _Stream(reply, body["model"]).write(request)
        return web.json_response(_response(reply, body["model"], _items(reply), "completed"))
