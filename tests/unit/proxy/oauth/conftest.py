"""Driving one provider's hooks against the OAuth fakes: an `OAuthHttp` that reaches them
through `upstream-host-overrides`, and a request sent the way the proxy sends it (the real
codec, the provider's adapter on a credential, the real upstream session)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
import pytest
from multidict import CIMultiDict

from services.proxy.config.host_overrides import HostOverrides
from services.proxy.oauth.http import OAuthHttp
from services.proxy.oauth.provider import Account, OAuthProvider, Upstream
from services.proxy.routing.codec_contract import Call
from services.proxy.routing.credentials import Credential
from services.proxy.routing.registry import Target
from services.proxy.routing.token_state import TokenState
from services.proxy.translate import parse_model_suffix
from services.proxy.translate.sse import SSEParser
from services.proxy.upstream.sessions import upstream_session
from services.proxy.upstream.translating_codec import TranslatingCodec


@pytest.fixture
async def session(oauth_fakes) -> AsyncIterator[aiohttp.ClientSession]:
    """An upstream session with the fakes' overrides, as the proxy makes them."""
    async with upstream_session(overrides=HostOverrides(oauth_fakes.overrides)) as made:
        yield made


@pytest.fixture
def oauth_http(session) -> OAuthHttp:
    return OAuthHttp(session, None)


def account(name: str, data: dict[str, Any]) -> Account:
    return Account(name=name, auth_index="0123456789abcdef", data=data)


def credential(provider: OAuthProvider, upstream: Upstream, access_token: str) -> Credential:
    return Credential(
        id=f"{provider.info.type}:{upstream.label}:{upstream.key}",
        provider=provider.info.type,
        channel=provider.info.channel_name,
        fmt=provider.info.wire_format,
        base_url=upstream.base_url,
        secret="",
        label=upstream.label,
        proxy_url="",
        headers={},
        prefix="",
        priority=0,
        weight=1,
        disable_cooling=False,
        models=(),
        excluded=(),
        static_headers=dict(upstream.headers),
        auth_type="oauth",
        token=TokenState(access_token=access_token, expires_at=time.time() + 3600),
        adapter=upstream.adapter,
    )


@dataclass
class Answer:
    status: int
    body: bytes  # the client's bytes (translated), or the upstream's error body
    sent: dict[str, Any]  # the upstream body as sent

    def json(self) -> Any:
        return orjson.loads(self.body)

    def events(self) -> list[tuple[str, Any]]:
        """(event, parsed data) of each SSE frame of a streamed answer."""
        parser = SSEParser()
        frames = parser.feed(self.body) + parser.feed(b"\n\n")
        return [(e, d if d == b"[DONE]" else orjson.loads(d)) for e, d in frames]


async def send(
    session: aiohttp.ClientSession,
    cred: Credential,
    client_fmt: str,
    body: dict[str, Any],
    *,
    model: str,
    stream: bool,
    client_headers: dict[str, str] | None = None,
) -> Answer:
    """`body` from a client of `client_fmt`, sent through the codec and the credential's
    adapter to the provider's fake; the answer as the client would get it."""
    codec = TranslatingCodec(client_fmt)  # type: ignore[arg-type]
    if stream and client_fmt != "gemini":  # Gemini clients stream by the URL, others by the body
        body = {**body, "stream": True}
    request = SimpleNamespace(headers=CIMultiDict(client_headers or {}))
    model, thinking = parse_model_suffix(model)  # as http/client_requests.py does
    call = Call(request, None, client_fmt, "", model, body, stream, "k", "req-1")  # type: ignore[arg-type]
    if thinking is not None:
        call.extra["thinking"] = thinking
    target = Target(cred, model)
    built = codec.build(call, target)
    async with session.post(built.url, data=built.body, headers=built.headers) as resp:
        raw = await resp.read()
        status = resp.status
    sent = orjson.loads(built.body)
    if status != 200:
        return Answer(status, raw, sent)
    if not stream:
        out, _ = codec.response(call, target, raw)
        return Answer(status, out, sent)
    proc = codec.stream(call, target)
    out = b"".join(proc.feed(raw[i : i + 7]) for i in range(0, len(raw), 7)) + proc.finish()
    assert proc.done, "the stream did not reach its end"
    return Answer(status, out, sent)


# One request per client format, asking for the same thing.
def client_body(client_fmt: str, model: str, text: str = "Hi", tools: bool = False) -> dict:
    tool_specs = {
        "openai": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
        "responses": [
            {
                "type": "function",
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
        "anthropic": [
            {
                "name": "get_weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
        "gemini": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                        },
                    }
                ]
            }
        ],
    }
    if client_fmt == "openai":
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
    elif client_fmt == "responses":
        body = {"model": model, "input": text, "instructions": "Be brief."}
    elif client_fmt == "anthropic":
        body = {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": text}]}
    else:
        body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    if tools:
        body["tools"] = tool_specs[client_fmt]
    return body


def answer_text(client_fmt: str, answer: Answer, stream: bool) -> str:
    """The assistant text a client of `client_fmt` got."""
    if not stream:
        data = answer.json()
        if client_fmt == "openai":
            return data["choices"][0]["message"]["content"] or ""
        if client_fmt == "responses":
            return "".join(
                c["text"]
                for item in data["output"]
                if item["type"] == "message"
                for c in item["content"]
            )
        if client_fmt == "anthropic":
            return "".join(b.get("text", "") for b in data["content"])
        return "".join(p.get("text", "") for p in data["candidates"][0]["content"]["parts"])
    out = []
    for event, data in answer.events():
        if data == b"[DONE]":
            continue
        if client_fmt == "openai":
            out += [c["delta"].get("content") or "" for c in data.get("choices", [])]
        elif client_fmt == "responses" and event == "response.output_text.delta":
            out.append(data["delta"])
        elif client_fmt == "anthropic" and data.get("type") == "content_block_delta":
            out.append(data["delta"].get("text", ""))
        elif client_fmt == "gemini":
            for cand in data.get("candidates", []):
                out += [
                    p.get("text", "")
                    for p in cand.get("content", {}).get("parts", [])
                    if not p.get("thought")
                ]
    return "".join(out)


def answer_tool(client_fmt: str, answer: Answer, stream: bool) -> str:
    """The name of the tool the client was asked to call ("" when none)."""
    text = answer.body.decode()
    return "get_weather" if "get_weather" in text else ""
