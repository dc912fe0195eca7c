"""The door through the real proxy: ill-formed bodies of each client format get a 400 in that
format naming the field and never reach any upstream, on the passthrough paths as well as the
translated ones; the body that used to abort the process is refused before it is translated."""

from __future__ import annotations

from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from tests.e2e.clis.gateway import CLIENT_KEYS, KINDS, gateway
from tests.unit.proxy.translate.abort_repro import gemini_body, nested

KEY = CLIENT_KEYS["claude"]


def _alias(kind: str) -> str:
    return KINDS[kind][2]


def _route(fmt: str, kind: str) -> tuple[str, dict[str, Any]]:
    """Path and the body fields that pick upstream `kind` for a client of format `fmt`."""
    if fmt == "gemini":
        return f"/v1beta/models/{_alias(kind)}:generateContent", {}
    path = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}.get(fmt, "/v1/responses")
    return path, {"model": _alias(kind)}


# client format -> (ill-formed body, the field the answer must name)
ILL_FORMED = {
    "anthropic": ({"max_tokens": 50, "messages": [{"role": "user", "content": 3.7}]}, "content"),
    "openai": ({"messages": [{"role": "user", "content": -5}]}, "messages.0.content"),
    "gemini": ({"contents": 0.5}, "contents"),
    "responses": ({"input": [{"role": "user", "content": {"text": "hi"}}]}, "input.0.content"),
}


async def _post(url: str, body: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=headers) as resp:
            return resp.status, await resp.json()


def _message(fmt: str, answer: Any) -> str:
    if fmt == "anthropic":
        assert answer["type"] == "error" and answer["error"]["type"] == "invalid_request_error"
    elif fmt == "gemini":
        assert answer["error"]["status"] == "INVALID_ARGUMENT" and answer["error"]["code"] == 400
    else:
        assert answer["error"]["type"] == "invalid_request_error"
    message: str = answer["error"]["message"]
    return message


@pytest.fixture
async def gw(tmp_path):
    async with gateway(tmp_path) as running:
        yield running


def _upstream_calls(gw) -> int:
    return sum(len(u.fake.requests) for u in gw.upstreams.values())


@pytest.mark.parametrize("fmt", list(ILL_FORMED))
@pytest.mark.parametrize("kind", list(KINDS))
async def test_ill_formed_bodies_stop_at_the_door(gw, fmt, kind):
    """Every pair, the same-format passthrough included: a 400 naming the field, no upstream."""
    body, field = ILL_FORMED[fmt]
    path, extra = _route(fmt, kind)
    status, answer = await _post(gw.base_url + path, {**extra, **body})
    assert status == 400
    assert _message(fmt if fmt != "responses" else "openai", answer).split(":")[0].endswith(field)
    assert _upstream_calls(gw) == 0


@pytest.mark.parametrize("fmt", list(ILL_FORMED))
async def test_deeply_nested_body_is_refused_in_the_clients_format(gw, fmt):
    """The aborting body's shape (a tool schema 200 deep), in each format: a 400, untranslated."""
    schema = {"type": "object", "properties": {"a": {"type": "array", "default": nested(200)}}}
    if fmt == "gemini":
        body: dict[str, Any] = gemini_body(200)
    elif fmt == "anthropic":
        body = {"max_tokens": 9, "messages": [], "tools": [{"name": "f", "input_schema": schema}]}
    elif fmt == "openai":
        body = {"messages": [], "tools": [{"type": "function", "function": {"name": "f"}}]}
        body["tools"][0]["function"]["parameters"] = schema
    else:
        body = {"input": "hi", "tools": [{"type": "function", "name": "f", "parameters": schema}]}
    path, extra = _route(fmt, "openai")
    status, answer = await _post(gw.base_url + path, {**extra, **body})
    assert status == 400
    message = _message(fmt if fmt != "responses" else "openai", answer)
    assert message == "Request body nests objects and arrays more than 64 levels deep"
    assert _upstream_calls(gw) == 0


async def test_openai_errors_carry_param_and_code(gw):
    """OpenAI's own validation errors name the parameter in `param`; so do ours."""
    status, answer = await _post(
        gw.base_url + "/v1/chat/completions",
        {"model": _alias("openai"), "messages": [{"role": "user", "content": "hi"}], "n": "2"},
    )
    assert status == 400
    assert answer["error"]["param"] == "n" and answer["error"]["code"] == "invalid_type"


async def test_sdks_surface_the_field(gw):
    """The official SDKs raise their BadRequestError with our message."""
    claude = anthropic.AsyncAnthropic(base_url=gw.base_url, api_key=KEY, max_retries=0)
    chat = openai.AsyncOpenAI(base_url=gw.base_url + "/v1", api_key=KEY, max_retries=0)
    try:
        with pytest.raises(anthropic.BadRequestError, match=r"messages\.0\.content\.0\.text"):
            await claude.messages.create(
                model=_alias("anthropic"),
                max_tokens=20,
                messages=[{"role": "user", "content": [{"type": "text", "text": 5}]}],  # type: ignore[list-item]
            )
        with pytest.raises(openai.BadRequestError, match=r"temperature"):
            await chat.chat.completions.create(
                model=_alias("openai"),
                messages=[{"role": "user", "content": "hi"}],
                temperature="warm",  # type: ignore[arg-type]
            )
    finally:
        await claude.close()
        await chat.close()
    assert _upstream_calls(gw) == 0


async def test_count_endpoints_validate_too(gw):
    """count_tokens and countTokens read the body the same way, so they admit it the same way."""
    status, answer = await _post(
        gw.base_url + "/v1/messages/count_tokens",
        {"model": _alias("anthropic"), "messages": [{"role": "user", "content": [7]}]},
    )
    assert status == 400 and "messages.0.content.0" in _message("anthropic", answer)
    status, answer = await _post(
        gw.base_url + f"/v1beta/models/{_alias('gemini')}:countTokens",
        {"contents": [{"parts": [{"text": ["a"]}]}]},
    )
    assert status == 400 and "contents.0.parts.0.text" in _message("gemini", answer)
    assert _upstream_calls(gw) == 0
