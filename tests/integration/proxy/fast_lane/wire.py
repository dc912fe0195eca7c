"""Raw HTTP/1.1 over a socket, for tests that must control every byte the proxy sees."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson

from ..harness import CLIENT_KEY

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes


def post(
    path: str = "/v1/chat/completions",
    body: object = CHAT,
    *,
    key: str = CLIENT_KEY,
    extra: str = "",
) -> bytes:
    """A complete POST with a Content-Length body."""
    data = orjson.dumps(body)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n{extra}\r\n"
    )
    return head.encode() + data


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: proxy\r\n\r\n".encode()


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """One response: its head, then a Content-Length or chunked body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
        return Answer(status, headers, bytes(body))
    length = int(headers.get("content-length", "0"))
    return Answer(status, headers, await reader.readexactly(length))


async def closed(reader: asyncio.StreamReader) -> bool:
    """True once the server closed the connection (EOF, or a reset)."""
    try:
        return await asyncio.wait_for(reader.read(), 10) == b""
    except ConnectionResetError:
        return True


async def connect(base_url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = int(base_url.rsplit(":", 1)[1])
    return await asyncio.open_connection("127.0.0.1", port)
