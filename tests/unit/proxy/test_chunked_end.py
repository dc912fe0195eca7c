"""ChunkedEnd finds the byte where a chunked body ends, however the bytes are split."""

from __future__ import annotations

import pytest

from services.proxy.http.chunked_end import ChunkedEnd

BODIES = [
    b"0\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n",
    b"3\r\n\r\n\n\r\n0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n",  # CRLFs inside the data
]
NEXT = b"GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n"


@pytest.mark.parametrize("body", BODIES)
def test_the_end_is_found_at_every_split(body):
    stream = body + NEXT
    for cut in range(len(stream) + 1):
        scanner = ChunkedEnd()
        first = scanner.feed(stream[:cut])
        if first is not None:
            assert first == len(body)
            continue
        second = scanner.feed(stream[cut:])
        assert second is not None and cut + second == len(body), cut


def test_byte_by_byte():
    body = BODIES[2]
    scanner = ChunkedEnd()
    ends = [i for i, byte in enumerate(body) if scanner.feed(bytes([byte])) is not None]
    assert ends == [len(body) - 1]


def test_an_unfinished_body_has_no_end():
    assert ChunkedEnd().feed(b"5\r\nhel") is None
    assert ChunkedEnd().feed(b"5\r\nhello\r\n0\r\n") is None
