"""Upstream answers in each wire format, built by the fakes' own (hand-written) generators."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.fakes import anthropic_upstream, gemini_upstream, responses_upstream
from tests.fakes.wire_base import Reply, frame


def anthropic_stream(reply: Reply) -> bytes:
    message = anthropic_upstream._message(reply, "claude-up")
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    out = [frame({"type": "message_start", "message": start}, "message_start")]
    out.append(frame({"type": "ping"}, "ping"))
    for index, block in enumerate(message["content"]):
        for data in anthropic_upstream._block_frames(index, block, reply):
            out.append(frame(data, data["type"]))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    out.append(
        frame(
            {
                "type": "message_delta",
                "delta": delta,
                "usage": {"output_tokens": reply.output_tokens},
            },
            "message_delta",
        )
    )
    out.append(frame({"type": "message_stop"}, "message_stop"))
    return b"".join(out)


def anthropic_body(reply: Reply) -> bytes:
    return json.dumps(anthropic_upstream._message(reply, "claude-up")).encode()


def gemini_stream(reply: Reply) -> bytes:
    return b"".join(frame(c) for c in gemini_upstream._chunks(reply, "gemini-up"))


def gemini_body(reply: Reply) -> bytes:
    return json.dumps(gemini_upstream._whole(reply, "gemini-up")).encode()


class _Capture:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, data: bytes) -> None:
        self.data += data


def responses_stream(reply: Reply) -> bytes:
    stream = responses_upstream._Stream(reply, "gpt-up")
    capture = _Capture()
    stream.response = capture  # type: ignore[assignment]

    async def run() -> None:
        items = responses_upstream._items(reply)
        await stream.emit(
            "response.created",
            response=responses_upstream._response(reply, "gpt-up", [], "in_progress"),
        )
        for index, item in enumerate(items):
            await stream.emit(
                "response.output_item.added",
                output_index=index,
                item=responses_upstream._started(item),
            )
            await stream._deltas(index, item)
            await stream.emit("response.output_item.done", output_index=index, item=item)
        status = "incomplete" if reply.stop == "max_output_tokens" else "completed"
        kind = "response.completed" if status == "completed" else "response.incomplete"
        await stream.emit(
            kind, response=responses_upstream._response(reply, "gpt-up", items, status)
        )

    asyncio.run(run())
    return bytes(capture.data)


def responses_body(reply: Reply) -> bytes:
    status = "incomplete" if reply.stop == "max_output_tokens" else "completed"
    return json.dumps(
        responses_upstream._response(reply, "gpt-up", responses_upstream._items(reply), status)
    ).encode()


def openai_stream(reply: Reply) -> bytes:
    """OpenAI chat chunks written out by hand (the OpenAI fake belongs to another module)."""
    base: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-up",
    }
    out = [
        frame(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ],
            }
        )
    ]
    for piece in reply.pieces(reply.thinking or ""):
        if piece:
            out.append(
                frame(
                    {
                        **base,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"reasoning_content": piece},
                                "finish_reason": None,
                            }
                        ],
                    }
                )
            )
    for piece in reply.pieces(reply.text):
        if piece:
            out.append(
                frame(
                    {
                        **base,
                        "choices": [
                            {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                        ],
                    }
                )
            )
    if reply.tool:
        name, args = reply.tool
        head = {
            "index": 0,
            "id": "call_abc",
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        out.append(
            frame(
                {
                    **base,
                    "choices": [
                        {"index": 0, "delta": {"tool_calls": [head]}, "finish_reason": None}
                    ],
                }
            )
        )
        for piece in reply.pieces(json.dumps(args)):
            delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            out.append(
                frame({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            )
    finish = reply.stop or ("tool_calls" if reply.tool else "stop")
    out.append(frame({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
    usage = {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
    }
    out.append(frame({**base, "choices": [], "usage": usage}))
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def openai_body(reply: Reply) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.thinking:
        message["reasoning_content"] = reply.thinking
    if reply.tool:
        name, args = reply.tool
        message["tool_calls"] = [
            {
                "id": "call_abc",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
        ]
    finish = reply.stop or ("tool_calls" if reply.tool else "stop")
    usage = {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
    }
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-up",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }
    ).encode()


STREAMS = {
    "openai": openai_stream,
    "responses": responses_stream,
    "anthropic": anthropic_stream,
    "gemini": gemini_stream,
}
BODIES = {
    "openai": openai_body,
    "responses": responses_body,
    "anthropic": anthropic_body,
    "gemini": gemini_body,
}
