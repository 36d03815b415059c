"""Decoding a response body incrementally, with a cap on the DECODED bytes.

httpx decodes ``Content-Encoding`` one network chunk at a time without any bound (a 64 KB chunk of
a gzip bomb becomes 67 MB in one call, and ``gzip, gzip`` nests bombs). Here each chunk is
inflated at most up to what is left under the cap, so a body can never grow past it in memory,
and a body with more than one content encoding, or one the harness did not ask for, is refused.
"""

from __future__ import annotations

import zlib

#: What the client asks for (``Accept-Encoding``) and so what it decodes.
ACCEPT_ENCODING = "gzip, deflate"
_GZIP = ("gzip", "x-gzip")
_DEFLATE = ("deflate",)


class BodyRefused(Exception):
    """A body that is not read any further; the message says why, in words for the report."""


class BodyTooLarge(BodyRefused):
    pass


def content_encodings(header: str | None) -> list[str]:
    """The encodings of a ``Content-Encoding`` value, in the order applied, without ``identity``."""
    if not header:
        return []
    return [part.strip().lower() for part in header.split(",") if part.strip() and part.strip().lower() != "identity"]


class BoundedDecoder:
    """Feed raw chunks, get decoded bytes; raises :class:`BodyTooLarge` once more than ``limit``
    decoded bytes would exist, :class:`BodyRefused` for an encoding it cannot or will not decode."""

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        encodings = content_encodings(content_encoding)
        if len(encodings) > 1:
            raise BodyRefused(f"Content-Encoding {content_encoding!r} stacks {len(encodings)} encodings; "
                              f"the harness asked for one of {ACCEPT_ENCODING} and decodes at most one")
        self.encoding = encodings[0] if encodings else None
        if self.encoding is not None and self.encoding not in _GZIP + _DEFLATE:
            raise BodyRefused(f"Content-Encoding {self.encoding!r} was not asked for "
                              f"(Accept-Encoding: {ACCEPT_ENCODING}); the body cannot be read")
        self.limit = limit
        self.raw = 0
        self.decoded = 0
        self._z = self._new()
        self._deflate_first = self.encoding in _DEFLATE

    def _new(self) -> "zlib._Decompress | None":
        if self.encoding in _GZIP:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self.encoding in _DEFLATE:
            return zlib.decompressobj()
        return None

    def _count(self, size: int) -> None:
        self.decoded += size
        if self.decoded > self.limit:
            detail = f" once decoded (Content-Encoding: {self.encoding}, {self.raw:,} bytes received)" \
                if self.encoding else ""
            raise BodyTooLarge(f"the response exceeds {self.limit:,} bytes{detail}; stopped reading")

    def feed(self, data: bytes) -> bytes:
        self.raw += len(data)
        if self._z is None:
            self._count(len(data))
            return data
        out: list[bytes] = []
        while data:
            room = self.limit - self.decoded + 1
            try:
                chunk = self._z.decompress(data, room)
            except zlib.error as exc:
                if self._deflate_first and self.decoded == 0:  # a raw deflate stream, as some servers send
                    self._deflate_first = False
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise BodyRefused(f"the {self.encoding} body cannot be decoded ({exc})") from None
            self._deflate_first = False
            self._count(len(chunk))
            out.append(chunk)
            if self._z.unconsumed_tail:
                data = self._z.unconsumed_tail
            elif self._z.eof and self._z.unused_data:
                data = self._z.unused_data  # a second gzip member follows
                self._z = self._new()
            else:
                data = b""
        return b"".join(out)

    def flush(self) -> bytes:
        if self._z is None:
            return b""
        rest = self._z.flush()
        self._count(len(rest))
        return rest


def decode_bounded(raw: bytes, content_encoding: str | None, limit: int) -> bytes:
    """A whole body decoded at once, under the same rules (for cassettes)."""
    decoder = BoundedDecoder(content_encoding, limit)
    return decoder.feed(raw) + decoder.flush()
