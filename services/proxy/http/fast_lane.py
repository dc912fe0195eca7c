"""The server's fast lane: the inference routes over HTTP/1.1 without aiohttp's server machinery.

Every connection starts here. Each request head is parsed by llhttp (httptools, strict: no
CL+TE, no duplicate Content-Length, no bad chunk sizes) and routed:

- `POST` to an inference route (`ROUTES`), HTTP/1.1, an ordinary head: served here, by the same
  handlers aiohttp would call, wrapped in the same error and metrics handling (`app.guarded`),
  with a `FastRequest` (a `web.Request` without aiohttp's per-request machinery).
- anything else (another method or path, HTTP/1.0, `Expect`, `Upgrade`, a `%`-escaped or
  dot-segment path, a head over `HEAD_LIMIT` or one llhttp refuses): the connection is handed
  to aiohttp's own `RequestHandler` at that request's first byte, and stays there. Management,
  health, metrics, usage, OAuth callbacks, preflights and errors keep their exact behaviour.

Pipelined requests are served in order; bytes of the next request wait unparsed (bounded by
`PENDING_LIMIT`, then reading pauses), so a handover always starts at a request boundary (after
a chunked body, `ChunkedEnd` finds that boundary in the bytes llhttp accepted).
Writes honour the transport's buffer limits (a slow reader pauses the stream relay). A client
that leaves cancels its handler task, as aiohttp's `handler_cancellation` does. Idle
connections close after `KEEPALIVE_TIMEOUT` (a partial head gets no more time than that).
docs/architecture.md ("The server's two lanes") and docs/security.md describe the guarantees.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, cast

import httptools
import structlog
from aiohttp import web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE
from aiohttp.tcp_helpers import tcp_nodelay
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_urldispatcher import AbstractRoute, UrlMappingMatchInfo
from multidict import CIMultiDict, CIMultiDictProxy

from services.core.errors import BadRequest

from .chunked_end import ChunkedEnd
from .fast_request import FastRequest, FastWriter

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Guard = Callable[[web.Request, Handler, str], Awaitable[web.StreamResponse]]

KEEPALIVE_TIMEOUT = 75.0  # both lanes (http/serving.py passes it to aiohttp too)
LINGER_SECONDS = 10.0  # an unread body is drained this long after the response (as aiohttp)
HEAD_LIMIT = 8190  # aiohttp's max_line_size: a longer head takes aiohttp's exact limits
PENDING_LIMIT = 64 * 1024  # bytes of pipelined requests held while one is served

# The inference routes (canonical paths, POST). The Gemini shapes take `{target:.+}`.
ROUTES = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/v1/responses",
)
TARGET_PREFIXES = ("/v1beta/models/", "/v1/models/")


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    route: AbstractRoute
    name: str  # the metrics label aiohttp's lane gives it: the canonical path
    no_target: UrlMappingMatchInfo  # the (read-only) match of an exact route, shared


class RouteTable:
    """The fast routes, taken from the app's own router (the same handlers, the same names)."""

    def __init__(self, app: web.Application) -> None:
        self.exact: dict[str, Route] = {}
        self.prefixed: list[tuple[str, Route]] = []
        targets = {f"{prefix}{{target}}": prefix for prefix in TARGET_PREFIXES}
        for resource in app.router.resources():
            for route in resource:
                if route.method != "POST":
                    continue
                canonical = resource.canonical
                entry = Route(route.handler, route, canonical, UrlMappingMatchInfo({}, route))
                if canonical in ROUTES:
                    self.exact[canonical] = entry
                elif canonical in targets:
                    self.prefixed.append((targets[canonical], entry))

    def match(self, path: str) -> tuple[Route, str] | None:
        """The route and its `target` ("" for exact routes)."""
        found = self.exact.get(path)
        if found is not None:
            return found, ""
        for prefix, entry in self.prefixed:
            if path.startswith(prefix) and len(path) > len(prefix):
                return entry, path[len(prefix) :]
        return None


class FastLane:
    """The listening socket's protocol factory: a fast connection, or aiohttp's handler when
    the `fast-lane` setting is off (checked per new connection)."""

    def __init__(
        self,
        app: web.Application,
        server: web.Server,
        guard: Guard,
        enabled: Callable[[], bool],
    ) -> None:
        self.app, self.server, self.guard, self.enabled = app, server, guard, enabled
        self.routes = RouteTable(app)
        self.loop = asyncio.get_running_loop()

    def __call__(self) -> asyncio.Protocol:
        if self.enabled():
            return FastConnection(self)
        return self.server()


class _Date:
    """The Date header value, formatted once per second."""

    second = 0
    value = ""

    @classmethod
    def now(cls) -> str:
        second = int(time.time())
        if second != cls.second:
            cls.second, cls.value = second, formatdate(second, usegmt=True)
        return cls.value


def _head_bytes(lines: list[str]) -> bytes:
    head = "\r\n".join(lines) + "\r\n\r\n"
    if head.count("\n") != len(lines) + 1 or head.count("\r") != len(lines) + 1:
        raise ValueError("Newline or carriage return character detected in HTTP header")
    return head.encode("utf-8")


class _StreamWriter(FastWriter):
    """Where a prepared `StreamResponse` writes (the executor's streams): chunked framing
    straight onto the transport, the head sent with the first chunk, waiting while the
    client's socket buffer is full. The last chunk and the terminator go out in one write."""

    def __init__(self, conn: FastConnection) -> None:
        self._conn = conn
        self._chunked = False
        self._head = b""
        self.length: int | None = None
        self.done = False

    def enable_chunking(self) -> None:
        self._chunked = True

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None) -> None:
        raise NotImplementedError("the fast lane sends responses uncompressed")

    async def start_stream(self, request: web.Request, response: web.StreamResponse) -> None:
        """What `StreamResponse.prepare` does for a chunked answer to an HTTP/1.1 POST (no
        cookies, no compression, a body allowed): the same headers in the same order (the
        response's own, Transfer-Encoding, Date, Server, Connection, then the prepare hooks')."""
        if (
            response.prepared
            or response.status in (204, 304)
            or response.status < 200
            or response.chunked
            or response.compression
            or response._cookies
            or "Content-Length" in response.headers
        ):
            await response.prepare(request)  # not the executor's streams: aiohttp's own rules
            return
        response._req = request
        response._payload_writer = self
        keep_alive = request.keep_alive
        response._keep_alive = keep_alive
        headers = response.headers
        self._chunked = True
        headers["Transfer-Encoding"] = "chunked"
        if "Content-Type" not in headers:
            headers["Content-Type"] = "application/octet-stream"
        if "Date" not in headers:
            headers["Date"] = rfc822_formatted_time()
        if "Server" not in headers:
            headers["Server"] = SERVER_SOFTWARE
        if not keep_alive and "Connection" not in headers:
            headers["Connection"] = "close"
        await request._prepare_hook(response)
        await self.write_headers(f"HTTP/1.1 {response.status} {response.reason}", headers)

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        if self._conn.closing and "Connection" not in headers:
            headers["Connection"] = "close"
        self._head = _head_bytes([status_line, *(f"{k}: {v}" for k, v in headers.items())])

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if not chunk:
            return  # an empty chunk would end a chunked body
        data = bytes(chunk)
        if self._chunked:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        if self._head:
            data, self._head = self._head + data, b""
        conn = self._conn
        transport = conn.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        transport.write(data)  # inline (not conn.send): once per stream chunk
        if conn.write_paused:
            await conn.drain()

    async def write_eof(self, chunk: bytes = b"") -> None:
        if self.done:
            return
        data = bytes(chunk)
        if self._chunked:
            framed = b"%x\r\n%b\r\n0\r\n\r\n" % (len(data), data) if data else b"0\r\n\r\n"
        else:
            framed = data
        tail, self._head = self._head + framed, b""
        if tail:
            await self._conn.send(tail)  # the head (if still held), the last chunk, the end
        self.done = True  # (not after a failed send: a second write_eof fails as well)

    async def drain(self) -> None:
        await self._conn.drain()


_HEAD, _BODY, _BUSY, _HANDED = "head", "body", "busy", "handed"


class FastConnection(asyncio.Protocol):
    """One client connection on the fast lane (see the module docstring)."""

    # web.Server's connection bookkeeping reads this (it holds RequestHandlers).
    _task_handler: asyncio.Task[None] | None = None

    def __init__(self, lane: FastLane) -> None:
        self.lane = lane
        self.loop = lane.loop
        self.transport: asyncio.Transport | None = None
        self.peername: Any = None
        self.reading_paused = False
        self.write_paused = False
        self.closing = False  # close once the current response is out
        self._drain_waiter: asyncio.Future[None] | None = None
        self._buf = bytearray()
        self._phase = _HEAD
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._begun = 0
        self._message_done = False
        self._chunked: ChunkedEnd | None = None
        self._remaining = 0
        self._request: FastRequest | None = None
        self._task: asyncio.Task[None] | None = None
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def connected(self) -> bool:
        return self.transport is not None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        tcp_nodelay(self.transport, True)
        self.peername = transport.get_extra_info("peername")
        # Shutdown (AppRunner.cleanup) closes and drains us with aiohttp's own connections.
        self.lane.server.connection_made(cast(RequestHandler, self), self.transport)
        self._arm(KEEPALIVE_TIMEOUT)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        try:
            self._advance()
        except Exception:  # a bug here must cost this connection only, visibly
            log.exception("fast_lane_failed")
            if self.transport is not None:
                self.transport.close()

    def eof_received(self) -> None:
        return None  # the transport closes: connection_lost cancels any handler

    def connection_lost(self, exc: BaseException | None) -> None:
        self.transport = None
        self.lane.server.connection_lost(cast(RequestHandler, self), exc)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()  # the client left: cancel the handler and its upstream call
        if self._request is not None and not self._message_done:
            self._request.body_failed(ConnectionResetError("client disconnected"))
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("Connection lost"))

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._begun += 1

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        )

    def on_body(self, body: bytes) -> None:
        request = self._request
        if request is not None and not self._message_done and self._task is not None:
            request.feed_body(body)  # after the response the rest is drained unread

    def on_message_complete(self) -> None:
        if self._message_done:
            return  # a pipelined request after a chunked body (see the docstring)
        self._message_done = True
        if self._request is not None:
            self._request.body_complete()

    # Flow control, used by FastRequest and the writer

    def pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()

    async def send(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        transport.write(data)
        if self.write_paused:
            await self.drain()

    async def drain(self) -> None:
        if self.transport is None:
            raise ConnectionResetError("Connection lost")
        if self.write_paused:
            waiter = self._drain_waiter
            if waiter is None:
                waiter = self._drain_waiter = self.loop.create_future()
            await asyncio.shield(waiter)

    # aiohttp's server calls these on shutdown (web.Server.pre_shutdown / shutdown)

    def close(self) -> None:
        """Take no new request; an idle connection closes now."""
        self.closing = True
        if self._task is None and self.transport is not None:
            self.transport.close()

    async def shutdown(self, timeout: float | None = 15.0) -> None:  # noqa: ASYNC109 (web.Server calls it so)
        """Let the request in flight finish within `timeout`, then cancel it and close."""
        self.closing = True
        task = self._task
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        if self.transport is not None:
            self.transport.close()

    # Parsing and routing

    def _advance(self) -> None:
        while self.transport is not None and self._phase is not _HANDED:
            if self._phase is _HEAD:
                if self._task is not None or not self._next_head():
                    return
            elif self._phase is _BODY:
                if not self._body_bytes():
                    return
            else:  # _BUSY: the next request waits for this one's response
                if len(self._buf) > PENDING_LIMIT:
                    self.pause_reading()
                return

    def _next_head(self) -> bool:
        buf = self._buf
        while buf[:2] == b"\r\n":  # empty lines before a request line are ignored (RFC 9112)
            del buf[:2]
        if not buf:
            return False
        end = buf.find(b"\r\n\r\n", 0, HEAD_LIMIT)
        if end < 0:
            # A head past the limit, or one ended by a bare LF (`\r\n\r\n` would never
            # come): aiohttp's parser gives its answer rather than the idle timeout.
            if len(buf) >= HEAD_LIMIT or b"\n\n" in buf or b"\n\r\n" in buf:
                self._hand_over()
            return False
        size = end + 4
        self._url, self._headers, self._message_done = b"", [], False
        try:
            self._parser.feed_data(bytes(buf[:size]))
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):  # (not a subclass)
            self._hand_over()  # aiohttp answers it as it always has (400, closed)
            return False
        if not self._start():
            self._hand_over()
            return False
        del buf[:size]
        return True

    def _start(self) -> bool:
        """Route the parsed head; start its handler, or False to hand the connection over."""
        parser = self._parser
        url = self._url
        if (
            parser.get_method() != b"POST"
            or parser.get_http_version() != "1.1"
            or parser.should_upgrade()
            or not url.startswith(b"/")
        ):
            return False
        raw_path, _, raw_query = url.partition(b"?")
        if b"%" in raw_path or b"/." in raw_path or b"#" in url or not raw_path.isascii():
            return False  # aiohttp decodes and normalises these: its lane routes them
        path = raw_path.decode("ascii")
        match = self.lane.routes.match(path)
        if match is None:
            return False
        headers = CIMultiDict(self._headers)
        if "Expect" in headers:
            return False  # aiohttp sends 100 Continue when the handler reads the body
        route, target = match
        chunked = "Transfer-Encoding" in headers  # llhttp refused any other final coding
        length = headers.get("Content-Length")
        keep_alive = parser.should_keep_alive()
        if not keep_alive:
            self.closing = True
        match_info = (
            UrlMappingMatchInfo({"target": target}, route.route) if target else route.no_target
        )
        request = FastRequest(
            self,
            self.lane.app,
            "POST",
            path,
            raw_query.decode("utf-8", "surrogateescape"),
            CIMultiDictProxy(headers),
            match_info,
            keep_alive,
            _StreamWriter(self),
        )
        self._request = request
        if self._message_done:
            request.body_complete()
            self._phase = _BUSY
        else:
            self._phase = _BODY
            self._chunked = ChunkedEnd() if chunked else None
            self._remaining = 0 if chunked or length is None else int(length)
        self._task = self.loop.create_task(self._serve(request, route))
        return True

    def _body_bytes(self) -> bool:
        buf = self._buf
        if not buf:
            return False
        if self._chunked is not None:
            data = bytes(buf)
            buf.clear()
        else:
            data = bytes(buf[: self._remaining])
            del buf[: len(data)]
            self._remaining -= len(data)
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self._bad_body()
            return False
        if self._chunked is not None:
            end = self._chunked.feed(data)
            if self._message_done:
                if end is None:  # never expected: the scanner disagrees with llhttp
                    self.closing = True
                elif end < len(data):
                    # The parser went on into the next request: it starts again from its
                    # first byte, with a fresh parser.
                    buf[:0] = data[end:]
                    self._parser = httptools.HttpRequestParser(self)
        if self._message_done:
            self._body_ended()
        return True

    def _bad_body(self) -> None:
        """A body llhttp refuses (bad chunk size, ...): the handler gets a 400 in its format,
        then the connection closes (nothing after it can be trusted)."""
        self.closing = True
        self._buf.clear()
        self._phase = _BUSY
        if self._request is not None and self._task is not None:
            self._request.body_failed(BadRequest("Malformed request body", code="bad_request"))
        elif self.transport is not None:
            self.transport.close()

    def _body_ended(self) -> None:
        if self._task is not None:
            self._phase = _BUSY
            return
        # The response went out before the body ended: it was drained, go on.
        self._request = None
        self._phase = _HEAD
        if self.closing and self.transport is not None:
            self.transport.close()
        else:
            self._arm(KEEPALIVE_TIMEOUT)

    def _hand_over(self) -> None:
        """aiohttp serves this connection from the current request on."""
        transport = self.transport
        assert transport is not None
        self._phase = _HANDED
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.lane.server.connection_lost(cast(RequestHandler, self), None)
        if self.reading_paused:
            transport.resume_reading()
        handler = self.lane.server()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if self.write_paused:
            handler.pause_writing()
        data, self._buf = bytes(self._buf), bytearray()
        if data:
            handler.data_received(data)

    # Serving

    async def _serve(self, request: FastRequest, route: Route) -> None:
        try:
            response = await self.lane.guard(request, route.handler, route.name)
            await self._finish(request, response)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the response could not be written: nothing else to do
            self._task = None
            if not isinstance(exc, ConnectionError):
                log.warning("fast_lane_write_failed", error=type(exc).__name__)
            if self.transport is not None:
                self.transport.close()
            return
        self._task = None
        self._response_done()

    async def _finish(self, request: FastRequest, response: web.StreamResponse) -> None:
        if response.prepared:  # a stream: the executor wrote it
            await response.write_eof()
            return
        body = response.body if isinstance(response, web.Response) else None
        if not isinstance(body, bytes):
            await response.prepare(request)  # any other response: aiohttp writes it
            await response.write_eof()
            return
        await request._prepare_hook(response)  # CORS, x-ratelimit-* (on_response_prepare)
        status = response.status
        headers = response.headers
        lines = [f"HTTP/1.1 {status} {response.reason}"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k != "Content-Length"]
        if status >= 200 and status not in (204, 304):
            lines.append(f"Content-Length: {len(body)}")
            if "Content-Type" not in headers:
                lines.append("Content-Type: application/octet-stream")
        else:
            body = b""
        if "Date" not in headers:
            lines.append(f"Date: {_Date.now()}")
        if "Server" not in headers:
            lines.append(f"Server: {SERVER_SOFTWARE}")
        if self.closing:
            lines.append("Connection: close")
        await self.send(_head_bytes(lines) + body)

    def _response_done(self) -> None:
        if self.transport is None:
            return
        if self.closing:
            self.transport.close()
            return
        if not self._message_done:  # the handler did not read the whole body: drain it
            self._arm(LINGER_SECONDS)
            self.resume_reading()
            self._phase = _BODY
            self._advance()
            return
        self._request = None
        self._phase = _HEAD
        self._arm(KEEPALIVE_TIMEOUT)
        self.resume_reading()
        self._advance()

    # Idle connections

    def _arm(self, seconds: float) -> None:
        """The connection must start its next request (or end its body) within `seconds`."""
        self._deadline = self.loop.time() + seconds
        if self._timer is not None and self._timer.when() > self._deadline:
            self._timer.cancel()
            self._timer = None
        if self._timer is None:
            self._timer = self.loop.call_at(self._deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.transport is None or self._task is not None:
            return  # a request is being served: its own timeouts bound it
        if self.loop.time() >= self._deadline:
            self.transport.close()
        else:
            self._timer = self.loop.call_at(self._deadline, self._on_timer)
