"""Reading a request body: capped on the bytes we keep, decoded as they arrive.

aiohttp's own decompression is switched off for the whole app (`NO_AUTO_DECOMPRESS`): with it,
`request.read()` inflated a 4.5 MiB gzip body to 1 GiB in memory before any size check. Here a
compressed body reaches us as sent, each network chunk is inflated in steps of at most `STEP`
bytes straight into the body buffer, and the request is refused (413) the moment the decoded
bytes pass the cap. Memory stays at the cap plus one step, whatever the compression ratio.

Accepted `Content-Encoding`: identity, gzip (x-gzip), deflate (zlib-wrapped or raw, as sent in
the wild) and zstd (Codex sends zstd bodies); one coding at most. Anything else is a 415 before
the body is read. A corrupt or truncated stream is a 400.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Protocol

from aiohttp import web
from backports.zstd import DecompressionParameter, ZstdDecompressor, ZstdError

from services.core.errors import AppError, BadRequest, PayloadTooLarge

# Settings for every server that runs the app: bodies reach the handler as sent.
NO_AUTO_DECOMPRESS = {"auto_decompress": False}
CHUNK = 64 * 1024
STEP = 256 * 1024  # decoded bytes produced per decompress call
# zstd's decoder holds a window of up to 2^window_log bytes: 8 MiB covers every level up to 19
# (level 3, Codex's, uses 2 MiB); the default limit would let one frame claim 128 MiB.
ZSTD_WINDOW_LOG_MAX = 23
ACCEPTED = ("identity", "gzip", "x-gzip", "deflate", "zstd")


class UnsupportedEncoding(AppError):
    status = 415
    code = "unsupported_content_encoding"


class _Engine(Protocol):
    """One compressed stream (a gzip member, a zlib stream, a zstd frame): zlib's interface.

    A call that returns exactly `max_length` bytes may have more: zlib keeps the input it did
    not take in `unconsumed_tail`, zstd keeps it inside (the next call passes b"").
    """

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int, /) -> bytes: ...


def _gzip(_first: bytes) -> _Engine:
    return zlib.decompressobj(16 + zlib.MAX_WBITS)


def _deflate(first: bytes) -> _Engine:
    # RFC 9110 says zlib-wrapped, but many clients send raw deflate: the zlib header tells.
    wrapped = len(first) >= 2 and first[0] & 0x0F == 8 and int.from_bytes(first[:2]) % 31 == 0
    return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)


def _zstd(_first: bytes) -> _Engine:
    options = {int(DecompressionParameter.window_log_max): ZSTD_WINDOW_LOG_MAX}
    return ZstdDecompressor(options=options)


_ENGINES: dict[str, tuple[Callable[[bytes], _Engine], bool]] = {
    # coding: (engine factory, whether streams may follow one another)
    "gzip": (_gzip, True),
    "x-gzip": (_gzip, True),
    "deflate": (_deflate, False),
    "zstd": (_zstd, True),
}


class Inflater:
    """Decodes one content coding chunk by chunk, never producing more than it is asked for."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._new, self._concatenated = _ENGINES[coding]
        self._engine: _Engine | None = None
        self._streams = 0

    def feed(self, data: bytes, buf: bytearray, limit: int) -> None:
        """Append the decoded bytes of `data` to `buf`, stopping once it holds over `limit`."""
        while len(buf) <= limit:
            if self._engine is None:
                if not data:
                    return
                if self._streams and not self._concatenated:
                    raise self._corrupt()  # bytes after the end of a deflate stream
                self._engine = self._new(data)
            want = min(STEP, limit + 1 - len(buf))
            try:
                out = self._engine.decompress(data, want)
            except (zlib.error, ZstdError, EOFError):
                raise self._corrupt() from None
            buf += out
            if self._engine.eof:
                data, self._engine = self._engine.unused_data, None
                self._streams += 1
            elif len(out) < want:
                return  # all of `data` is taken and nothing is pending
            else:
                data = getattr(self._engine, "unconsumed_tail", b"")

    def finish(self) -> None:
        """The body ended: a stream cut short is an error, not a shorter body."""
        if self._engine is not None:
            raise BadRequest(
                f"Request body is a truncated {self.coding} stream", code="bad_encoding"
            )

    def _corrupt(self) -> BadRequest:
        return BadRequest(f"Request body is not valid {self.coding} data", code="bad_encoding")


def inflater_for(request: web.BaseRequest) -> Inflater | None:
    """The decoder the request's Content-Encoding needs (None: as is); 415 when unsupported."""
    if "Content-Encoding" not in request.headers:
        return None  # nearly every request: skip the parsing below
    raw = ",".join(request.headers.getall("Content-Encoding", ()))
    codings = [c.strip().lower() for c in raw.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    if len(codings) > 1 or codings[0] not in _ENGINES:
        raise UnsupportedEncoding(
            f"Unsupported Content-Encoding '{raw.strip()}': send one of {', '.join(ACCEPTED)}"
        )
    return Inflater(codings[0])


def refuse_encoded(request: web.BaseRequest) -> None:
    """For routes that hand the raw stream to a parser (multipart): only identity is read."""
    if inflater_for(request) is not None:
        raise UnsupportedEncoding("This route takes no Content-Encoding")


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")


async def read_body(request: web.BaseRequest, limit: int) -> bytes:
    """The decoded body, refused (413) before reading when its declared length is over `limit`
    and as soon as the bytes read or inflated pass it."""
    inflater = inflater_for(request)
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(limit)
    if inflater is None and declared is not None:
        return await request.read()  # the common case: one read of a known, bounded length
    buf = bytearray()
    async for chunk in request.content.iter_chunked(CHUNK):
        if inflater is None:
            buf += chunk
        else:
            inflater.feed(chunk, buf, limit)
        if len(buf) > limit:
            raise _too_large(limit)
    if inflater is not None:
        inflater.finish()
    return bytes(buf)
