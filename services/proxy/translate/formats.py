"""The registry of formats: which reader and writer serves each one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.proxy.translate import anthropic, gemini, openai, responses
from services.proxy.translate.codec import StreamReader, StreamWriter
from services.proxy.translate.ir import Format, Request, Response, Sink

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Codec:
    read_request: Callable[[Json], Request]
    write_request: Callable[[Request, str, bool], Json]
    read_response: Callable[[Json], Response]
    write_response: Callable[[Response, str], Json]
    reader: Callable[[Sink], StreamReader]
    error_body: Callable[[int, str, str | None], Json]


CODECS: dict[str, Codec] = {
    "openai": Codec(
        openai.read_request,
        openai.write_request,
        openai.read_response,
        openai.write_response,
        openai.Reader,
        openai.error_body,
    ),
    "responses": Codec(
        responses.read_request,
        responses.write_request,
        responses.read_response,
        responses.write_response,
        responses.Reader,
        responses.error_body,
    ),
    "anthropic": Codec(
        anthropic.read_request,
        anthropic.write_request,
        anthropic.read_response,
        anthropic.write_response,
        anthropic.Reader,
        anthropic.error_body,
    ),
    "gemini": Codec(
        gemini.read_request,
        gemini.write_request,
        gemini.read_response,
        gemini.write_response,
        gemini.Reader,
        gemini.error_body,
    ),
}


def codec(fmt: Format | str) -> Codec:
    found = CODECS.get(fmt)
    if found is None:
        raise ValueError(f"unknown format {fmt!r}")
    return found


def stream_writer(
    fmt: Format | str, model: str, include_usage: bool, hints: responses.ToolHints
) -> StreamWriter:
    if fmt == "openai":
        return openai.Writer(model, include_usage)
    if fmt == "responses":
        return responses.Writer(model, hints)
    if fmt == "anthropic":
        return anthropic.Writer(model)
    if fmt == "gemini":
        return gemini.Writer(model)
    raise ValueError(f"unknown format {fmt!r}")
