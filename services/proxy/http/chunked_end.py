"""Where a chunked request body ends, in bytes llhttp has already accepted.

llhttp validates the chunked framing but does not say at which byte a message ended, and a
pipelined request may follow in the same read. This scanner walks the framing llhttp vouched
for (size line, data, CRLF, ..., last chunk, trailers, empty line) only to find that offset, so
the next request starts at its own first byte. It never decides validity: llhttp does.
"""

from __future__ import annotations

_SIZE, _DATA, _TRAILER = 0, 1, 2


class ChunkedEnd:
    def __init__(self) -> None:
        self._state = _SIZE
        self._line = bytearray()  # a size or trailer line not yet complete
        self._left = 0  # chunk bytes (and their CRLF) still to come

    def feed(self, data: bytes) -> int | None:
        """The offset in `data` just past the body's end, or None if it ends later."""
        pos, size = 0, len(data)
        while pos < size:
            if self._state == _DATA:
                take = min(self._left, size - pos)
                pos += take
                self._left -= take
                if not self._left:
                    self._state = _SIZE
                continue
            eol = data.find(b"\n", pos)
            if eol < 0:
                self._line += data[pos:]
                return None
            line = bytes(self._line) + data[pos : eol + 1]
            self._line.clear()
            pos = eol + 1
            if self._state == _TRAILER:
                if line == b"\r\n":
                    return pos
                continue
            length = int(line.split(b";", 1)[0].strip(), 16)
            if length:
                self._state, self._left = _DATA, length + 2
            else:
                self._state = _TRAILER
        return None
