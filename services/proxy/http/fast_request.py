"""The fast lane's request: an `aiohttp.web.Request` built from a parsed head, without aiohttp's
server machinery behind it.

The handlers, the door, `read_body` and the executor are written against `web.Request`; the
fast lane hands them this subclass so both lanes share every line of that code. It fills in
only what the inference path reads: method, path, query, headers, remote, the body, request
storage (`request[KEY]`), `match_info`, `app` and what `StreamResponse.prepare` needs (the
payload writer, version, keep-alive, the prepare hook). `BaseRequest.__init__` is deliberately
not called: it builds a URL, a payload stream and a dozen attributes per request, which is the
cost this lane removes. aiohttp is pinned (pyproject.toml); `tests/integration/proxy/fast_lane`
covers every attribute the inference routes use.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from typing import Any, Protocol, cast

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.base_protocol import BaseProtocol
from aiohttp.helpers import reify
from aiohttp.http import HttpVersion11
from aiohttp.streams import StreamReader
from aiohttp.web_urldispatcher import UrlMappingMatchInfo
from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy, MultiMapping
from yarl import URL

_NO_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())
# Unread body bytes held for a handler that has not asked for them yet, before reading pauses.
BODY_BUFFER_LIMIT = 256 * 1024


class Connection(Protocol):
    """What a request needs of its connection (fast_lane.Connection)."""

    loop: asyncio.AbstractEventLoop
    peername: Any
    reading_paused: bool

    @property
    def connected(self) -> bool: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class FastWriter(AbstractStreamWriter):
    """The connection's writer for a request's answer; it can also start a stream itself."""

    @abstractmethod
    async def start_stream(self, request: web.Request, response: web.StreamResponse) -> None:
        """`response.prepare(request)` for a chunked answer, without aiohttp's general cases."""


class _ReaderFlow:
    """What an aiohttp `StreamReader` asks of its protocol (flow control), on our connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def connected(self) -> bool:
        return self._conn.connected

    @property
    def _reading_paused(self) -> bool:
        return self._conn.reading_paused

    def pause_reading(self) -> None:
        self._conn.pause_reading()

    def resume_reading(self, resume_parser: bool = True) -> None:
        self._conn.resume_reading()


class FastRequest(web.Request):
    ATTRS = web.Request.ATTRS | frozenset(
        [
            "_conn",
            "_app",
            "_writer",
            "_query_string",
            "_chunks",
            "_size",
            "_complete",
            "_waiter",
            "_error",
        ]
    )

    def __init__(
        self,
        conn: Connection,
        app: web.Application,
        method: str,
        path: str,
        query_string: str,
        headers: CIMultiDictProxy[str],
        match_info: UrlMappingMatchInfo,
        keep_alive: bool,
        writer: FastWriter,
    ) -> None:
        # Not super().__init__(): see the module docstring.
        self._conn = conn
        self._app = app
        self._method = method
        self._headers = headers
        self._version = HttpVersion11
        self._query_string = query_string
        self._match_info = match_info
        self._payload_writer = writer
        self._writer = writer
        self._state: dict[web.RequestKey[Any] | str, Any] = {}
        self._cache: dict[str, Any] = {
            "path": path,
            "version": HttpVersion11,
            "keep_alive": keep_alive,
            "match_info": match_info,
        }
        self._transport_peername = conn.peername
        self._read_bytes: bytes | None = None
        self._client_max_size = 0  # read_body caps every body, decoded bytes included
        self._loop = conn.loop
        self._payload = cast(StreamReader, None)  # made on first use of `content`
        self._chunks: list[bytes] = []
        self._size = 0
        self._complete = False
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None

    @property
    def app(self) -> web.Application:
        return self._app

    @reify
    def query(self) -> MultiMapping[str]:
        if not self._query_string:
            return _NO_QUERY
        return URL.build(query_string=self._query_string, encoded=True).query

    @reify
    def content(self) -> StreamReader:
        """The body as an aiohttp stream (read_body takes it for chunked or encoded bodies)."""
        flow = cast(BaseProtocol, _ReaderFlow(self._conn))
        reader = StreamReader(flow, 2**16, loop=self._loop)
        for chunk in self._chunks:
            reader.feed_data(chunk)
        self._chunks.clear()
        if self._error is not None:
            reader.set_exception(self._error)
        elif self._complete:
            reader.feed_eof()
        self._payload = reader
        return reader

    async def read(self) -> bytes:
        """The whole body: no stream object when it came in with its head (the common case)."""
        if self._read_bytes is None:
            if self._payload is not None:
                return await super().read()
            while not self._complete:
                if self._error is not None:
                    raise self._error
                self._waiter = self._loop.create_future()
                self._conn.resume_reading()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
            if self._error is not None:
                raise self._error
            chunks = self._chunks
            self._read_bytes = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
        return self._read_bytes

    async def start_stream(self, response: web.StreamResponse) -> None:
        """Prepare a stream's response (the executor's SSE answers): the same head as
        `response.prepare(self)` writes, built by the connection's writer (fast_lane.py)."""
        await self._writer.start_stream(self, response)

    async def _prepare_hook(self, response: web.StreamResponse) -> None:
        for receiver in self._app.on_response_prepare:  # Signal.send, minus a frame per hook
            await receiver(self, response)

    # Called by the connection as the body arrives.

    def feed_body(self, data: bytes) -> None:
        if self._payload is not None:
            self._payload.feed_data(data)
            return
        self._chunks.append(data)
        self._size += len(data)
        waiter = self._waiter
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)
        elif self._size > BODY_BUFFER_LIMIT:
            self._conn.pause_reading()  # nobody reads yet: hold the client (bounded)

    def body_complete(self) -> None:
        self._complete = True
        if self._payload is not None:
            self._payload.feed_eof()
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def body_failed(self, exc: BaseException) -> None:
        self._error = exc
        if self._payload is not None:
            self._payload.set_exception(exc)
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    @property
    def body_done(self) -> bool:
        return self._complete
