"""Response bodies read with a cap: at most ``limit`` bytes on the wire, at most one
``Content-Encoding`` decoded, at most ``limit`` bytes once decoded.

A discovery document is tens to hundreds of kilobytes; a hostile one can be a few kilobytes of
``gzip, gzip`` that decode to gigabytes, or a body that never ends. :class:`BoundedBody` is fed
the raw bytes chunk by chunk and hands back the decoded bytes, raising :class:`BodyTooLarge` the
moment either count passes the cap (decompression is asked for at most the room left, so a
bomb never expands in memory) and :class:`EncodingRefused` for more than one encoding, an
encoding the fleet did not offer (it sends ``Accept-Encoding: gzip, deflate``), or one that does
not decode.
"""

from __future__ import annotations

import zlib

#: the classes of a body the fleet will not read
TOO_LARGE = "too-large"
BAD_ENCODING = "bad-encoding"

DEFAULT_LIMIT = 4 * 1024 * 1024


class BodyTooLarge(Exception):
    fleet_outcome = TOO_LARGE


class EncodingRefused(Exception):
    fleet_outcome = BAD_ENCODING


def _megabytes(count: int) -> str:
    return f"{count / (1024 * 1024):.3g} MB" if count >= 1024 * 1024 else f"{count} bytes"


def encodings(header: str | None) -> list[str]:
    """The content codings a ``Content-Encoding`` header names, in order, ``identity`` left out."""
    if not header:
        return []
    return [v.strip().lower() for v in header.split(",") if v.strip() and v.strip().lower() != "identity"]


class BoundedBody:
    """Decode one response body within ``limit`` bytes (raw and decoded)."""

    def __init__(self, content_encoding: str | None, limit: int = DEFAULT_LIMIT,
                 content_length: str | None = None) -> None:
        self.limit = limit
        self.raw = 0
        self.decoded = 0
        codings = encodings(content_encoding)
        if len(codings) > 1:
            raise EncodingRefused(f"Content-Encoding {', '.join(codings)[:60]!r}: more than one encoding; "
                                  "the fleet decodes at most one")
        self.coding = codings[0] if codings else None
        if self.coding not in (None, "gzip", "x-gzip", "deflate"):
            raise EncodingRefused(f"Content-Encoding {self.coding[:40]!r} was not offered "  # type: ignore[index]
                                  "(the fleet accepts gzip and deflate)")
        if content_length is not None:
            try:
                declared = int(content_length)
            except ValueError:
                declared = None
            if declared is not None and declared > limit:
                raise BodyTooLarge(f"the body is {_megabytes(declared)} (Content-Length), over the "
                                   f"{_megabytes(limit)} cap")
        self._zlib: zlib._Decompress | None = None  # type: ignore[name-defined]
        self._first = True
        if self.coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif self.coding == "deflate":
            self._zlib = zlib.decompressobj()

    def _room(self) -> int:
        return self.limit - self.decoded + 1  # one byte more than allowed tells that the cap is passed

    def _count(self, out: bytes) -> bytes:
        self.decoded += len(out)
        if self.decoded > self.limit:
            raise BodyTooLarge(f"the body decodes ({self.coding}) to more than {_megabytes(self.limit)}, the cap")
        return out

    def feed(self, chunk: bytes) -> bytes:
        """The decoded bytes of ``chunk``."""
        self.raw += len(chunk)
        if self.raw > self.limit:
            raise BodyTooLarge(f"the body is more than {_megabytes(self.limit)}, the cap")
        if self._zlib is None:
            return self._count(chunk)
        if self._zlib.eof:
            return b""  # anything after the end of the stream is ignored, as browsers do
        out = bytearray()
        data = chunk
        try:
            while data:
                piece = self._zlib.decompress(data, self._room())
                self._first = False
                out += self._count(piece)
                data = self._zlib.unconsumed_tail
                if self._zlib.eof:
                    break
        except zlib.error as exc:
            if self.coding == "deflate" and self._first:  # raw deflate, without the zlib header
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self._first = False
                return self.feed_again(chunk)
            raise EncodingRefused(f"the {self.coding} body does not decode ({exc})") from None
        return bytes(out)

    def feed_again(self, chunk: bytes) -> bytes:
        self.raw -= len(chunk)
        return self.feed(chunk)

    def close(self) -> bytes:
        """What the decoder still holds at the end of the body."""
        if self._zlib is None:
            return b""
        try:
            return self._count(self._zlib.flush())
        except zlib.error as exc:
            raise EncodingRefused(f"the {self.coding} body does not decode ({exc})") from None
