"""Random uuid4 event ids, cheap enough for the request path.

`uuid.uuid4()` costs a getrandom syscall and a UUID object per call (about 5 us here); these
ids come from one 4 KiB read of the OS CSPRNG per 128 ids and are formatted as bytes.
"""

from __future__ import annotations

import os

_POOL_BYTES = 4096
# The RFC 4122 variant puts 10 in the top bits of the 17th hex digit: 8, 9, a or b.
_VARIANT = {digit: b"89ab"[int(chr(digit), 16) & 3 :][:1] for digit in b"0123456789abcdef"}


class EventIds:
    """A source of version-4 UUIDs as ASCII bytes, e.g. b"1b4e28ba-2fa1-41d2-883f-0016d3cca427"."""

    def __init__(self) -> None:
        self._pool = b""
        self._pos = 0

    def next(self) -> bytes:
        pos = self._pos
        if pos >= len(self._pool):
            self._pool, pos = os.urandom(_POOL_BYTES).hex().encode(), 0
        self._pos = pos + 32
        h = self._pool[pos : pos + 32]
        return b"%b-%b-4%b-%b%b-%b" % (h[:8], h[8:12], h[13:16], _VARIANT[h[16]], h[17:20], h[20:])
