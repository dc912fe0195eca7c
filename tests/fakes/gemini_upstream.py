"""A fake Gemini API: generateContent, streamGenerateContent (SSE with `alt=sse`, else a JSON
array), countTokens and the model list, under `/v1beta/models` (and `/v1/models`), and the same
methods as Vertex AI express mode serves them: `/v1/publishers/google/models/{model}:{method}`.

    async with FakeGemini() as fake: ... fake.base_url, fake.push(Reply(...)), fake.requests
    python -m tests.fakes.gemini_upstream --port 18002
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.wire_base import (
    FakeServer,
    Reply,
    estimate_tokens,
    frame,
    main,
    sse_response,
)

STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}
MODELS = ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-3-pro-preview")


def error_json(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": STATUS.get(status, "INTERNAL")}}


@dataclass
class FakeGemini(FakeServer):
    def routes(self) -> list[web.RouteDef]:
        return [
            # google-genai may use /v1 as well as /v1beta; Gemini CLI uses /v1beta.
            web.get("/{version:v1beta|v1}/models", self.list_models),
            web.post("/{version:v1beta|v1}/models/{call}", self.call),
            # Vertex AI express mode (an API key, no project or location in the path).
            web.post("/v1/publishers/google/models/{call}", self.call),
        ]

    async def list_models(self, request: web.Request) -> web.Response:
        models = [
            {
                "name": f"models/{m}",
                "displayName": m,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            }
            for m in MODELS
        ]
        return web.json_response({"models": models})

    async def call(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        model, _, method = request.match_info["call"].partition(":")
        if not self.key_ok(request):
            return web.json_response(error_json(401, "API key not valid"), status=401)
        if method == "countTokens":
            return web.json_response({"totalTokens": estimate_tokens(body.get("contents"))})
        if method not in ("generateContent", "streamGenerateContent"):
            return web.json_response(error_json(404, f"unknown method {method}"), status=404)
        reply = self.next_reply()
        problem = self.problem("gemini", body, model)
        if problem:
            return web.json_response(error_json(400, problem), status=400)
        if reply.status != 200:
            return web.json_response(error_json(reply.status, reply.error), status=reply.status)
        chunks = _chunks(reply, model)
        if method == "generateContent":
            return web.json_response(_whole(reply, model))
        if request.query.get("alt") != "sse":
            return web.json_response(chunks)
        response = await sse_response(request)
        for index, chunk in enumerate(chunks):
            await response.write(frame(chunk))
            if reply.fail_mid_stream and index == 0:
                await response.write(frame(error_json(503, "The model is overloaded.")))
                return response
        return response


def _usage(reply: Reply) -> dict[str, Any]:
    usage = {
        "promptTokenCount": reply.input_tokens,
        "candidatesTokenCount": reply.output_tokens,
        "totalTokenCount": reply.input_tokens + reply.output_tokens,
    }
    if reply.cached_tokens:
        usage["cachedContentTokenCount"] = reply.cached_tokens
    return usage


def _parts(reply: Reply) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if reply.thinking:
        parts.append({"text": reply.thinking, "thought": True})
    if reply.text:
        parts.append({"text": reply.text})
    if reply.tool:
        name, args = reply.tool
        parts.append({"functionCall": {"name": name, "args": args}, "thoughtSignature": "c2ln"})
    return parts


def _whole(reply: Reply, model: str) -> dict[str, Any]:
    candidate = {
        "content": {"role": "model", "parts": _parts(reply)},
        "finishReason": reply.stop or "STOP",
        "index": 0,
    }
    return {
        "candidates": [candidate],
        "usageMetadata": _usage(reply),
        "modelVersion": model,
        "responseId": "fake-response-id",
    }


def _chunks(reply: Reply, model: str) -> list[dict[str, Any]]:
    """Text split in pieces, one chunk each; the tool call and finishReason come last."""
    parts: list[dict[str, Any]] = []
    if reply.thinking:
        parts += [{"text": p, "thought": True} for p in reply.pieces(reply.thinking)]
    if reply.text:
        parts += [{"text": p} for p in reply.pieces(reply.text)]
    tool_parts = [p for p in _parts(reply) if "functionCall" in p]
    chunks: list[dict[str, Any]] = []
    for part in parts or [{"text": ""}]:
        content = {"role": "model", "parts": [part]}
        chunks.append({"candidates": [{"content": content, "index": 0}], "modelVersion": model})
    last = chunks[-1]["candidates"][0]
    if tool_parts:
        chunks.append(
            {"candidates": [{"content": {"role": "model", "parts": tool_parts}, "index": 0}]}
        )
        last = chunks[-1]["candidates"][0]
    last["finishReason"] = reply.stop or "STOP"
    chunks[-1]["usageMetadata"] = _usage(reply)
    chunks[-1]["modelVersion"] = model
    return json.loads(json.dumps(chunks))


if __name__ == "__main__":
    main(FakeGemini, "Fake Gemini generateContent upstream")
