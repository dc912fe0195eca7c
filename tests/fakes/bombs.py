"""Decompression bombs: small bodies that inflate to many MiB of zeros, built in milliseconds.

Compressing 1 GiB takes a minute; instead one MiB of zeros is compressed after a full flush
(which resets the compressor, so every repetition yields the same bytes) and repeated.
"""

from __future__ import annotations

import functools
import struct
import zlib

from backports.zstd import ZstdCompressor

_MIB = 1 << 20


@functools.cache
def _raw_deflate(mib: int) -> bytes:
    """One raw deflate stream of `mib` MiB of zeros (about 1 KiB per MiB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    piece = compressor.compress(bytes(_MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return piece * mib + compressor.flush()


@functools.cache
def _checksums(mib: int) -> tuple[int, int]:
    block = bytes(_MIB)
    crc, adler = 0, 1
    for _ in range(mib):
        crc, adler = zlib.crc32(block, crc), zlib.adler32(block, adler)
    return crc, adler


def gzip_bomb(mib: int) -> bytes:
    crc, _ = _checksums(mib)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + _raw_deflate(mib) + struct.pack("<II", crc, (mib * _MIB) & 0xFFFFFFFF)


def deflate_bomb(mib: int) -> bytes:
    """zlib-wrapped, as RFC 9110's `deflate` coding says."""
    _, adler = _checksums(mib)
    return b"\x78\xda" + _raw_deflate(mib) + struct.pack(">I", adler)


@functools.cache
def zstd_bomb(mib: int) -> bytes:
    compressor = ZstdCompressor(level=3)
    block = bytes(_MIB)
    return b"".join(compressor.compress(block) for _ in range(mib)) + compressor.flush()


BOMBS = {"gzip": gzip_bomb, "deflate": deflate_bomb, "zstd": zstd_bomb}
