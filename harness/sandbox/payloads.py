"""Big bodies, built cheaply: padding entries for oversized Bundles, and gzip streams assembled
from pre-compressed pieces so that gigabytes are never held (or compressed) in memory.

A raw deflate stream may be cut after a full flush: each piece then decodes on its own, so a
piece compressed once can be repeated. A gzip member is a 10-byte header, the deflate pieces,
and a trailer with the CRC-32 and length of the decoded data; the CRC-32 of long runs is
combined with zlib's ``crc32_combine`` method rather than computed over the data.
"""

from __future__ import annotations

import json
import random
import struct
import zlib
from functools import lru_cache
from typing import Any

MIB = 1 << 20
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, no mtime, unknown OS
_FINAL_BLOCK = b"\x03\x00"  # an empty final fixed-Huffman block


# --- padding ------------------------------------------------------------------------------------


def padding_entry(number: int, size: int = 1000) -> dict[str, Any]:
    """A searchset entry of about ``size`` bytes: a Basic resource, ``search.mode: include``."""
    return {"resource": {"resourceType": "Basic", "id": f"padding{number}",
                         "code": {"text": "x" * max(1, size - 90)}},
            "search": {"mode": "include"}}


def padding_entries(total_bytes: int, size: int = 4000, start: int = 0) -> list[dict[str, Any]]:
    """Entries adding up to about ``total_bytes`` of JSON."""
    count = max(0, total_bytes // size)
    return [padding_entry(start + n, size) for n in range(count)]


# --- gzip assembled from pieces -----------------------------------------------------------------


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """CRC-32 of ``A + B`` from ``crc32(A)``, ``crc32(B)`` and ``len(B)`` (zlib's method)."""
    if length2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << (n - 1) for n in range(1, 32)]  # one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)
        if length2 & 1:
            crc1 = _gf2_times(even, crc1)
        length2 >>= 1
        if not length2:
            break
        odd = _gf2_square(even)
        if length2 & 1:
            crc1 = _gf2_times(odd, crc1)
        length2 >>= 1
        if not length2:
            break
    return crc1 ^ crc2


def crc32_repeated(crc: int, length: int, times: int) -> int:
    """CRC-32 of a piece (``crc32`` ``crc``, ``length`` bytes) repeated ``times`` times."""
    total, piece, piece_length = 0, crc, length
    first = True
    while times:
        if times & 1:
            total = piece if first else crc32_combine(total, piece, piece_length)
            first = False
        piece = crc32_combine(piece, piece, piece_length)
        piece_length *= 2
        times >>= 1
    return total


def _piece(data: bytes, level: int = 9) -> bytes:
    """``data`` as a raw deflate piece ending in a full flush (it decodes on its own)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 9)
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


def _member(pieces: list[tuple[bytes, int]], crc: int, length: int) -> bytes:
    """A gzip member from deflate pieces (piece, times repeated)."""
    body = b"".join(piece * times for piece, times in pieces)
    return GZIP_HEADER + body + _FINAL_BLOCK + struct.pack("<II", crc & 0xFFFFFFFF, length & 0xFFFFFFFF)


@lru_cache(maxsize=4)
def zeros_gzip(mebibytes: int) -> bytes:
    """One gzip member that decodes to ``mebibytes`` MiB of zero bytes (about 1 KB per MiB)."""
    chunk = bytes(MIB)
    return _member([(_piece(chunk), mebibytes)], crc32_repeated(zlib.crc32(chunk), MIB, mebibytes),
                   mebibytes * MIB)


@lru_cache(maxsize=2)
def gzip_bomb(gibibytes: int = 4) -> bytes:
    """``Content-Encoding: gzip, gzip``: gzip of a gzip of ``gibibytes`` GiB of zeros (about 10 KB)."""
    return _gzip(zeros_gzip(gibibytes * 1024))


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31, 9)
    return compressor.compress(data) + compressor.flush()


@lru_cache(maxsize=1)
def _padding_piece() -> tuple[bytes, bytes]:
    """About 256 KB of JSON padding entries (each ``,{...}``) and its deflate piece: varied enough
    to compress about 35 to 1, as a large real Bundle does."""
    rng = random.Random(1979)
    filler = "Harness padding entry, deliberately large. " * 8
    entries = []
    for number in range(640):
        text = f"{rng.getrandbits(40):010x} {filler}"
        entries.append(json.dumps({"resource": {"resourceType": "Basic", "id": f"padding{number}",
                                                "code": {"text": text}}, "search": {"mode": "include"}}))
    raw = ("," + ",".join(entries)).encode("utf-8")
    return raw, _piece(raw, 6)


def large_bundle_gzip(bundle: dict[str, Any], megabytes: int = 70) -> bytes:
    """One gzip member of ``bundle`` with padding entries up to about ``megabytes`` MB decoded."""
    shown = dict(bundle)
    entries = list(shown.pop("entry", []))
    head = json.dumps(shown, ensure_ascii=False)[:-1] + ', "entry": [' + ",".join(
        json.dumps(e, ensure_ascii=False) for e in entries)
    if not entries:
        head += json.dumps(padding_entry(-1, 100))
    head_bytes, tail = head.encode("utf-8"), b"]}"
    raw, piece = _padding_piece()
    times = max(1, (megabytes * 1_000_000 - len(head_bytes)) // len(raw))
    crc = zlib.crc32(head_bytes)
    crc = crc32_combine(crc, crc32_repeated(zlib.crc32(raw), len(raw), times), len(raw) * times)
    crc = crc32_combine(crc, zlib.crc32(tail), len(tail))
    length = len(head_bytes) + len(raw) * times + len(tail)
    return _member([(_piece(head_bytes), 1), (piece, times), (_piece(tail), 1)], crc, length)
