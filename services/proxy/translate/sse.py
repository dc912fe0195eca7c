"""Incremental, bounded server-sent-events parser, and the frame encoder the writers use.

Frames may be split at any byte (even inside a CRLF); a frame larger than `max_frame` is
dropped whole and counted, so a misbehaving upstream cannot grow the buffer without limit.
"""

from __future__ import annotations

MAX_FRAME = 8 * 1024 * 1024

Frame = tuple[str, bytes]  # (event name or "", data with multi-line data joined by "\n")


class SSEParser:
    """Feed bytes, get complete frames back. Comments and frames without data are skipped."""

    __slots__ = ("_discarding", "_parts", "_pending_cr", "_size", "max_frame", "oversized")

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        # Pending bytes of an incomplete frame, kept as a list so a large frame arriving in
        # many small chunks is joined once, not re-copied on every chunk.
        self._parts: list[bytes] = []
        self._size = 0
        self._pending_cr = False
        self._discarding = False
        self.max_frame = max_frame
        self.oversized = 0

    def feed(self, chunk: bytes) -> list[Frame]:
        if self._pending_cr:
            chunk = b"\r" + chunk
            self._pending_cr = False
        if b"\r" in chunk:
            if chunk.endswith(b"\r"):
                # The next chunk may start with "\n": decide once it arrives.
                chunk, self._pending_cr = chunk[:-1], True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if not chunk:
            return []
        parts = self._parts
        joins = parts and parts[-1][-1:] == b"\n" and chunk[:1] == b"\n"
        if b"\n\n" not in chunk and not joins:
            return self._hold(chunk)
        buf = b"".join(parts) + chunk if parts else chunk
        parts.clear()
        self._size = 0
        frames: list[Frame] = []
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            if self._discarding:
                self._discarding = False
            elif end - start > self.max_frame:
                self.oversized += 1
            else:
                frame = _parse_frame(buf[start:end])
                if frame is not None:
                    frames.append(frame)
            start = end + 2
        if start < len(buf):
            self._hold(buf[start:])
        return frames

    @property
    def idle(self) -> bool:
        """No partial frame is buffered: the next chunk starts a new frame."""
        return not self._parts and not self._pending_cr and not self._discarding

    def _hold(self, rest: bytes) -> list[Frame]:
        if self._discarding:
            # Inside an oversized frame: keep only a byte that may be half of its "\n\n".
            self._parts[:] = [rest[-1:]]
            self._size = 1
            return []
        self._parts.append(rest)
        self._size += len(rest)
        if self._size > self.max_frame:
            self.oversized += 1
            self._discarding = True
            self._parts[:] = [rest[-1:]]
            self._size = 1
        return []

    def flush(self) -> list[Frame]:
        """Parse what is left when the stream ends without a final blank line."""
        frames: list[Frame] = []
        if self._pending_cr:  # a CR at the very end was a line ending after all
            self._pending_cr = False
            frames = self.feed(b"\n")
        rest = b"".join(self._parts)
        self._parts.clear()
        self._size = 0
        if self._discarding or not rest.strip():
            return frames
        frame = _parse_frame(rest.rstrip(b"\n"))
        return [*frames, frame] if frame is not None else frames


def _parse_frame(raw: bytes) -> Frame | None:
    if raw.startswith(b"data: ") and b"\n" not in raw:
        return "", raw[6:]  # the common case: one data line, no event name
    if raw.startswith(b"event: "):  # Anthropic's and Responses' frames: one event, one data line
        nl = raw.find(b"\n")
        if raw.startswith(b"data: ", nl + 1) and raw.find(b"\n", nl + 1) < 0:
            return raw[7:nl].decode("utf-8", "replace"), raw[nl + 7 :]
    event = ""
    data: list[bytes] = []
    for line in raw.split(b"\n"):
        if not line or line[0] == 0x3A:  # ":" starts a comment (keep-alives)
            continue
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    if not data:
        return None
    return event, data[0] if len(data) == 1 else b"\n".join(data)


def encode(event: str | None, data: bytes) -> bytes:
    """One SSE frame; `data` must not contain newlines (orjson output never does)."""
    if event:
        return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"
