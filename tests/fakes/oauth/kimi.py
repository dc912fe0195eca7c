"""Kimi Code (Moonshot) device login and coding API, as oauth-providers.md §5 and §11 describe.

Origins: auth.kimi.com (RFC 8628 device authorization, token, verification page),
api.kimi.com (OpenAI chat completions under /coding/v1).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakes.oauth.provider import Client, Provider, Routes, oauth_error
from tests.fakes.oauth.recording import REC, Recorded
from tests.fakes.openai_upstream import Reply as ChatReply
from tests.fakes.openai_upstream import ToolCall, _chat_body, _stream_frames, _usage
from tests.fakes.wire_base import Reply

AUTH, API = "https://auth.kimi.com", "https://api.kimi.com"
CLIENT_ID = "17e5f671-d194-4dfb-9706-5516cb48c098"
VERIFY_PAGE = f"{AUTH}/device"
MSH_HEADERS = (
    "X-Msh-Platform",
    "X-Msh-Version",
    "X-Msh-Device-Name",
    "X-Msh-Device-Model",
    "X-Msh-Device-Id",
)


def moonshot_error(status: int, message: str, kind: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind}}, status=status)


def chat_reply(reply: Reply) -> ChatReply:
    """The wire_base reply as the OpenAI fake's reply (same text, tool call and token counts)."""
    tools = [ToolCall(reply.tool[0], json.dumps(reply.tool[1]))] if reply.tool else []
    return ChatReply(
        text=reply.text,
        tool_calls=tools,
        prompt_tokens=reply.input_tokens,
        completion_tokens=reply.output_tokens,
        cached_tokens=reply.cached_tokens,
    )


class Kimi(Provider):
    name = "kimi"
    clients = (Client("kimi", CLIENT_ID),)
    device_grant_supported = True
    token_prefix = ("kimi-at-", "kimi-rt-")

    def routes(self) -> Routes:
        return {
            AUTH: [
                web.post("/api/oauth/device_authorization", self.device_authorization),
                web.post("/api/oauth/token", self.token),
                web.get("/device", self.device_page),
            ],
            API: [web.post("/coding/v1/chat/completions", self.chat)],
        }

    def token_body(self, tokens: Any) -> dict[str, Any]:
        return {**super().token_body(tokens), "scope": "kimi-code"}

    # §5: a rejected refresh token is a 401 (CPA: "refresh token rejected").
    def grant_error(self, description: str) -> web.Response:
        return oauth_error(401, "invalid_grant", description)

    def reused_error(self) -> web.Response:
        return self.grant_error("refresh token was already used")

    def refresh_error(self, kind: str, retry_after: int) -> web.Response:
        if kind == "invalid_grant":
            return self.grant_error("refresh token is invalid or revoked")
        return super().refresh_error(kind, retry_after)

    def missing_msh(self, rec: Recorded) -> str | None:
        missing = [h for h in MSH_HEADERS if not rec.headers.get(h)]
        return f"missing headers: {', '.join(missing)}" if missing else None

    async def device_authorization(self, request: web.Request) -> web.Response:
        rec: Recorded = request[REC]
        rec.label(self.name, "device_start")
        problem = self.missing_msh(rec)
        if problem:
            return oauth_error(400, "invalid_request", problem)
        form = rec.body if isinstance(rec.body, dict) else {}
        if rec.encoding != "form" or form.get("client_id") != CLIENT_ID:
            return oauth_error(401, "invalid_client", "client_id is missing or unknown")
        _, body = self.start_device(self.client(), VERIFY_PAGE)
        return web.json_response(body)

    async def token(self, request: web.Request) -> web.Response:
        problem = self.missing_msh(request[REC])
        if problem:
            return oauth_error(400, "invalid_request", problem)
        return await self.token_endpoint(request)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        rec: Recorded = request[REC]
        grant, problem = self.access(rec, "inference")
        if grant is None or problem:
            return moonshot_error(401, "Invalid Authentication", "invalid_authentication_error")
        missing = self.missing_msh(rec)
        if missing:
            return moonshot_error(400, missing, "invalid_request_error")
        body = rec.body if isinstance(rec.body, dict) else {}
        model = body.get("model")
        if not isinstance(model, str) or model.startswith("kimi-") or model.endswith("[1m]"):
            message = f"Not found the model {model} or Permission denied"
            return moonshot_error(404, message, "resource_not_found_error")
        if not isinstance(body.get("messages"), list):
            return moonshot_error(400, "messages is required", "invalid_request_error")
        scripted = grant.account.fault("inference")
        if scripted is not None:
            return scripted
        reply = chat_reply(self.next_reply(grant.account))
        if not body.get("stream"):
            return web.json_response({**_chat_body(model, reply), "usage": _usage(reply)})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in _stream_frames("/v1/chat/completions", body, reply):
            await response.write(chunk)
        return response
