"""The request-body inflater: every accepted coding, bounded output, clear errors."""

from __future__ import annotations

import gzip
import zlib

import pytest
from backports.zstd import compress as zstd_compress

from services.core.errors import BadRequest
from services.proxy.inbound.request_body import Inflater
from tests.fakes.bombs import BOMBS

BODY = b'{"model": "gpt-test", "messages": [{"role": "user", "content": "' + b"hi " * 5000 + b'"}]}'


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODED = {
    "gzip": gzip.compress(BODY),
    "x-gzip": gzip.compress(BODY),
    "deflate": zlib.compress(BODY),
    "zstd": zstd_compress(BODY),
}


def _inflate(coding: str, data: bytes, *, chunk: int = 7, limit: int = 1 << 30) -> bytes:
    inflater = Inflater(coding)
    out = bytearray()
    for i in range(0, len(data), chunk):
        inflater.feed(data[i : i + chunk], out, limit)
    inflater.finish()
    return bytes(out)


@pytest.mark.parametrize("coding", sorted(ENCODED))
def test_each_coding_decodes_in_small_chunks(coding):
    assert _inflate(coding, ENCODED[coding]) == BODY


def test_raw_deflate_is_accepted_too():
    """Many clients send `deflate` without the zlib wrapper."""
    assert _inflate("deflate", _raw_deflate(BODY)) == BODY


@pytest.mark.parametrize("coding", ["gzip", "zstd"])
def test_concatenated_members_decode_as_one_body(coding):
    """gzip members and zstd frames may follow one another (as `cat a.gz b.gz` makes)."""
    halves = (BODY[:1000], BODY[1000:])
    pack = gzip.compress if coding == "gzip" else zstd_compress
    assert _inflate(coding, pack(halves[0]) + pack(halves[1])) == BODY


@pytest.mark.parametrize("coding", sorted(BOMBS))
def test_output_stops_one_byte_past_the_limit(coding):
    """A 256 MiB bomb fed whole yields limit + 1 bytes, then nothing more: memory stays bounded."""
    inflater = Inflater(coding)
    out = bytearray()
    inflater.feed(BOMBS[coding](256), out, 4096)
    assert len(out) == 4097
    inflater.feed(b"", out, 4096)
    assert len(out) == 4097


@pytest.mark.parametrize("coding", sorted(BOMBS))
def test_large_bodies_decode_whole_across_steps(coding):
    """Output larger than one decompress step (and than one input chunk's worth) is complete."""
    assert _inflate(coding, BOMBS[coding](3), chunk=100) == bytes(3 << 20)


@pytest.mark.parametrize("coding", sorted(ENCODED))
def test_truncated_stream_is_a_400(coding):
    with pytest.raises(BadRequest) as info:
        _inflate(coding, ENCODED[coding][: len(ENCODED[coding]) // 2])
    assert info.value.code == "bad_encoding"


@pytest.mark.parametrize("coding", sorted(ENCODED))
def test_garbage_is_a_400(coding):
    with pytest.raises(BadRequest) as info:
        _inflate(coding, b"this is not compressed at all, not even a little")
    assert info.value.code == "bad_encoding"


def test_bytes_after_a_deflate_stream_are_a_400():
    with pytest.raises(BadRequest):
        _inflate("deflate", zlib.compress(BODY) + b"junk")
