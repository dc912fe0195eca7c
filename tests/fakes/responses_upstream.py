"""A fake OpenAI Responses API (what Codex upstreams speak): `POST /v1/responses`, streamed as
typed `event:` frames with sequence numbers, or a whole response object.

    async with FakeResponses() as fake: ... fake.base_url, fake.push(Reply(...)), fake.requests
    python -m tests.fakes.responses_upstream --port 18003
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.wire_base import FakeServer, Reply, main, sse_response

ERROR_TYPES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


def error_json(status: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "code": ERROR_TYPES.get(status)}}


@dataclass
class FakeResponses(FakeServer):
    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/responses", self.responses), web.get("/v1/models", self.models)]

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "gpt-5-codex", "object": "model"}]}
        )

    async def responses(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        reply = self.next_reply()
        if not self.key_ok(request):
            return web.json_response(error_json(401, "Incorrect API key provided"), status=401)
        problem = self.problem("responses", body)
        if problem:
            return web.json_response(error_json(400, problem), status=400)
        if reply.status != 200:
            return web.json_response(error_json(reply.status, reply.error), status=reply.status)
        model = body.get("model", "gpt-test")
        if not body.get("stream"):
            return web.json_response(_response(reply, model, _items(reply), "completed"))
        return await _Stream(reply, model).write(request)


def _items(reply: Reply) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.thinking:
        summary = [{"type": "summary_text", "text": reply.thinking}]
        items.append({"id": "rs_" + uuid.uuid4().hex[:16], "type": "reasoning", "summary": summary})
    if reply.text:
        text = {"type": "output_text", "text": reply.text, "annotations": []}
        items.append(
            {
                "id": "msg_" + uuid.uuid4().hex[:16],
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [text],
            }
        )
    if reply.tool:
        name, args = reply.tool
        items.append(
            {
                "id": "fc_" + uuid.uuid4().hex[:16],
                "type": "function_call",
                "status": "completed",
                "call_id": "call_" + uuid.uuid4().hex[:16],
                "name": name,
                "arguments": json.dumps(args),
            }
        )
    return items


def _response(reply: Reply, model: str, output: list[Any], status: str) -> dict[str, Any]:
    usage = None
    if status != "in_progress":
        usage = {
            "input_tokens": reply.input_tokens,
            "input_tokens_details": {"cached_tokens": reply.cached_tokens},
            "output_tokens": reply.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": reply.input_tokens + reply.output_tokens,
        }
    details = {"reason": "max_output_tokens"} if status == "incomplete" else None
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": details,
        "model": model,
        "output": output,
        "usage": usage,
    }


class _Stream:
    def __init__(self, reply: Reply, model: str) -> None:
        self.reply = reply
        self.model = model
        self.seq = 0
        self.response: web.StreamResponse | None = None

    async def emit(self, kind: str, **payload: Any) -> None:
        assert self.response is not None
        data = json.dumps({"type": kind, "sequence_number": self.seq, **payload})
        self.seq += 1
        await self.response.write(f"event: {kind}\ndata: {data}\n\n".encode())

    async def write(self, request: web.Request) -> web.StreamResponse:
        self.response = await sse_response(request)
        reply = self.reply
        items = _items(reply)
        await self.emit(
            "response.created", response=_response(reply, self.model, [], "in_progress")
        )
        await self.emit(
            "response.in_progress", response=_response(reply, self.model, [], "in_progress")
        )
        for index, item in enumerate(items):
            await self.emit("response.output_item.added", output_index=index, item=_started(item))
            failed = await self._deltas(index, item)
            if failed:
                return self.response
            await self.emit("response.output_item.done", output_index=index, item=item)
        status = "incomplete" if reply.stop == "max_output_tokens" else "completed"
        kind = "response.completed" if status == "completed" else "response.incomplete"
        await self.emit(kind, response=_response(reply, self.model, items, status))
        return self.response

    async def _deltas(self, index: int, item: dict[str, Any]) -> bool:
        ids = {"item_id": item["id"], "output_index": index}
        if item["type"] == "message":
            text = item["content"][0]["text"]
            part = {"type": "output_text", "text": "", "annotations": []}
            await self.emit("response.content_part.added", **ids, content_index=0, part=part)
            for piece in self.reply.pieces(text):
                await self.emit("response.output_text.delta", **ids, content_index=0, delta=piece)
                if self.reply.fail_mid_stream:
                    await self.emit(
                        "error", code="server_error", message="stream broke", param=None
                    )
                    return True
            await self.emit("response.output_text.done", **ids, content_index=0, text=text)
            done = {"type": "output_text", "text": text, "annotations": []}
            await self.emit("response.content_part.done", **ids, content_index=0, part=done)
        elif item["type"] == "function_call":
            for piece in self.reply.pieces(item["arguments"]):
                await self.emit("response.function_call_arguments.delta", **ids, delta=piece)
            await self.emit(
                "response.function_call_arguments.done", **ids, arguments=item["arguments"]
            )
        else:
            text = item["summary"][0]["text"]
            part = {"type": "summary_text", "text": ""}
            await self.emit(
                "response.reasoning_summary_part.added", **ids, summary_index=0, part=part
            )
            for piece in self.reply.pieces(text):
                await self.emit(
                    "response.reasoning_summary_text.delta", **ids, summary_index=0, delta=piece
                )
        return False


def _started(item: dict[str, Any]) -> dict[str, Any]:
    if item["type"] == "message":
        return {**item, "status": "in_progress", "content": []}
    if item["type"] == "function_call":
        return {**item, "status": "in_progress", "arguments": ""}
    return {**item, "summary": []}


if __name__ == "__main__":
    main(FakeResponses, "Fake OpenAI Responses upstream")
