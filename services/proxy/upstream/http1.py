"""One upstream HTTP/1.1 connection (asyncio protocol + httptools) and the response it reads.

The lean client of the inference hot path (docs/performance.md, "Proxy overhead"): a request
is one `transport.write` of pre-encoded bytes, the answer is parsed by httptools, and its body
is buffered in a bounded queue the reader drains (reading pauses past `HIGH_WATER`). There is
no redirect machinery at all: a 3xx is an answer like any other and the caller decides.

A connection goes back to its pool only once the whole answer was read and the upstream said
keep-alive; anything else (a reader that stopped mid-body, a cancel, a parse error) closes it.
The errors raised are aiohttp's client error classes so callers catch one family for both
clients (aiohttp still sends what the lean client does not: `https://` proxies, other calls).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import cast

import aiohttp
import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from services.core.errors import AppError

from ..inbound.request_body import Inflater

HIGH_WATER = 256 * 1024  # buffered body bytes at which the socket stops being read
MAX_HEAD = 64 * 1024  # status line plus headers
MAX_INFLATE = 16 * 1024 * 1024  # decoded bytes one network chunk may turn into
_CODINGS = {"gzip", "x-gzip", "deflate"}
_NO_BODY = {204, 304}


class BodyTooLarge(aiohttp.ClientPayloadError):
    """An upstream body is larger than its reader holds."""


class ServerDisconnected(aiohttp.ServerDisconnectedError):
    """The upstream closed the connection before its answer was complete."""


class BodyTruncated(aiohttp.ClientPayloadError):
    """The connection ended in the middle of the answer's body."""


class BadUpstreamResponse(aiohttp.ClientPayloadError):
    """The upstream's bytes are not a valid HTTP/1.1 answer (or are too large a head)."""


class Response:
    """An upstream answer: status and headers at once, the body as it arrives."""

    def __init__(self, conn: Connection, url: URL) -> None:
        self._conn = conn
        self.url = url
        self.status = 0
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._eof = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._inflater: Inflater | None = None

    @property
    def content_type(self) -> str:
        raw = self.headers.get("Content-Type")
        if not raw:
            return "application/octet-stream"
        return raw.partition(";")[0].strip().lower()

    @property
    def complete(self) -> bool:
        return self._eof and self._exc is None

    @property
    def ended(self) -> bool:
        """Read to the end: `readany` would return b"" at once."""
        return self._eof and self._exc is None and not self._chunks

    # Called by the connection.
    def _start(self, status: int, headers: CIMultiDict[str]) -> None:
        self.status = status
        self.headers = CIMultiDictProxy(headers)
        coding = headers.get("Content-Encoding", "").strip().lower()
        if coding in _CODINGS:
            self._inflater = Inflater(coding)

    def _feed(self, data: bytes) -> None:
        if self._inflater is not None:
            data = self._inflate(data)
            if not data:
                return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER:
            self._conn.pause()
        self._wake()

    def _inflate(self, data: bytes) -> bytes:
        assert self._inflater is not None
        buf = bytearray()
        try:
            self._inflater.feed(data, buf, MAX_INFLATE)
        except AppError:
            raise BadUpstreamResponse("upstream body is not valid coded data") from None
        if len(buf) > MAX_INFLATE:
            raise BadUpstreamResponse("upstream chunk inflates past the limit")
        return bytes(buf)

    def _end(self) -> None:
        if self._inflater is not None:
            try:
                self._inflater.finish()
            except AppError:
                self._fail(BadUpstreamResponse("upstream coded body is truncated"))
                return
        self._eof = True
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        if not self._eof and self._exc is None:
            self._exc = exc
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # The reader's side.
    async def readany(self) -> bytes:
        """The buffered body bytes (all of them), b"" at the end; raises when it broke."""
        while not self._chunks:
            if self._exc is not None:
                raise self._exc
            if self._eof:
                return b""
            self._waiter = self._conn.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunks = self._chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        self._conn.resume()
        return data

    async def read_capped(self, cap: int, idle: float | None = None) -> bytes:
        """The whole body, refusing more than `cap` bytes; `idle` bounds each wait for data."""
        length = self.headers.get("Content-Length")
        if length is not None and self._inflater is None and length.isdigit() and int(length) > cap:
            raise BodyTooLarge(f"upstream body of {length} bytes")
        parts: list[bytes] = []
        size = 0
        while True:
            if self._chunks or self._eof or self._exc is not None:
                chunk = await self.readany()  # answers at once: no timer to arm
            else:
                async with asyncio.timeout(idle):
                    chunk = await self.readany()
            if not chunk:
                return parts[0] if len(parts) == 1 else b"".join(parts)
            size += len(chunk)
            if size > cap:
                raise BodyTooLarge("upstream body too large")
            parts.append(chunk)

    def redirect_host(self) -> str:
        """Where a 3xx answer pointed (host only: the URL may carry a token)."""
        try:
            return self.url.join(URL(self.headers.get("Location", ""))).host or "?"
        except ValueError:
            return "?"

    def close(self) -> None:
        """Done with the answer: the connection is reused only when it was read to the end."""
        self._conn.finished(self)


class Connection(asyncio.Protocol):
    """One socket to one upstream origin; serves one request at a time."""

    def __init__(self, on_idle: Callable[[Connection], None]) -> None:
        self._on_idle = on_idle
        # Made by its loop's create_connection; kept, because asyncio.get_running_loop() is a
        # getpid() syscall each time (CPython 3.11), twice per request on this path.
        self.loop = asyncio.get_running_loop()
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = 0  # requests sent on it
        self.idle_since = 0.0
        self._response: Response | None = None
        self._head: asyncio.Future[Response] | None = None
        self._head_bytes = 0
        self._header_list: list[tuple[str, str]] = []
        self._paused = False
        self._keep_alive = False
        self._interim = False  # inside a 1xx answer
        self._until_close = False  # body delimited by the connection's end

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but offer the same methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        resp = self._response
        if resp is None:
            self.abort()  # bytes nobody asked for: the connection is not trustworthy
            return
        if self._head is not None:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            self._broken(exc.__context__ or BadUpstreamResponse(str(exc)))
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._broken(BadUpstreamResponse(f"bad upstream HTTP: {type(exc).__name__}"))
        else:
            if self._head is not None and self._head_bytes > MAX_HEAD:
                self._broken(BadUpstreamResponse("upstream response head too large"))

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        resp = self._response
        if resp is None:
            return
        if self._head is not None:
            self._broken(ServerDisconnected("upstream closed the connection"))
        elif self._until_close and exc is None:
            resp._end()  # an until-close body ends with the connection
        else:
            self._broken(BodyTruncated("upstream body is not complete"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_list.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        resp, head = self._response, self._head
        assert resp is not None and head is not None
        status = self._parser.get_status_code()
        headers: CIMultiDict[str] = CIMultiDict(self._header_list)
        self._header_list = []
        if status < 200:
            self._interim = True  # 100 Continue, 103 Early Hints: the real answer follows
            return
        self._until_close = (
            status not in _NO_BODY
            and "Content-Length" not in headers
            and "chunked" not in headers.get("Transfer-Encoding", "").lower()
        )
        resp._start(status, headers)
        self._head = None
        if not head.done():
            head.set_result(resp)

    def on_body(self, body: bytes) -> None:
        assert self._response is not None
        self._response._feed(body)

    def on_message_complete(self) -> None:
        assert self._response is not None
        if self._interim:
            self._interim = False
            return
        self._until_close = False
        # Asked here: after the callbacks llhttp no longer knows.
        self._keep_alive = self._parser.should_keep_alive()
        self._response._end()

    # The pool's and the response's side.
    def send(self, data: bytes, url: URL) -> asyncio.Future[Response]:
        """Write one request; the future resolves with its answer's head."""
        assert self.transport is not None
        self.used += 1
        self._response = Response(self, url)
        self._keep_alive = False
        self._head_bytes = 0
        self._head = self.loop.create_future()
        self.transport.write(data)
        return self._head

    def finished(self, resp: Response) -> None:
        if resp is not self._response:
            return
        keep = resp.complete and not self.closed and self._keep_alive
        self._response = None
        self.resume()
        if keep:
            self._on_idle(self)
        else:
            self.abort()

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _broken(self, exc: BaseException) -> None:
        head, resp = self._head, self._response
        if head is not None and not head.done():
            head.set_exception(exc)
            head.exception()  # retrieved here: a cancelled sender never reads it
        if resp is not None:
            resp._fail(exc)
        self.abort()
