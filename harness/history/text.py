"""Cleaning the few strings the history keeps, and the strings it shows.

Only fields on an allow-list are ever stored (see ``extract.py``); the strings among them still
pass :func:`safe_text` on the way in: control characters and bidirectional overrides removed,
length capped, and anything that looks like a credential (a JWT, a long unbroken run of base64 or
hex that is not a ``sha256:`` fingerprint) replaced by ``[redacted]``. :func:`shown` does the
same cleaning for the terminal and for HTML, whatever is in the database.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[redacted]"
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
# 24 or more letters and digits in a row, holding both, is a key, a token or a hash (random base64 and
# hex have such runs; words joined by hyphens, paths and UUIDs do not). Fingerprints are kept by their
# own validator (``fingerprint``), never through this path.
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+=]{24,}")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"))
# a fleet tenant's fingerprint (sha256, 16 to 64 hex), an API's shape in a tenant run (12 hex, several joined by +)
_FINGERPRINT = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}(?:\+[0-9a-f]{12,64})*$")
_FINGERPRINT_LIMIT = 80  # the width of the columns that hold them
_IDENTIFIER = re.compile(r"^[\w $().,\[\]:/&'+=*#@-]{1,300}$")


def strip_controls(text: str) -> str:
    """``text`` without ANSI escapes, control characters (tabs and newlines become spaces) or bidi overrides."""
    if text.isascii() and text.isprintable():  # no escape, control or override can be in it: most ids and names
        return text
    text = _ANSI.sub("", text).translate(_BIDI)
    out = []
    for ch in text:
        if ch in "\t\n\r":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and ch != "\u200d":
            continue
        else:
            out.append(ch)
    return "".join(out)


def _tokenish(match: re.Match[str]) -> str:
    run = match.group(0)
    has_digit = any(c.isdigit() for c in run)
    has_alpha = any(c.isalpha() for c in run)
    return REDACTED if has_digit and has_alpha else run


def safe_text(value: object, limit: int = 200) -> str | None:
    """A string to store, or None: cleaned, credentials redacted, at most ``limit`` characters."""
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, (str, int, float)):
        return None
    text = strip_controls(str(value)).strip()
    text = _JWT.sub(REDACTED, text)
    text = _LONG_TOKEN.sub(_tokenish, text)
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def identifier(value: object, limit: int = 300) -> str | None:
    """A check id, API name, category or similar: kept only when it is made of identifier characters
    and holds nothing that looks like a credential."""
    if not isinstance(value, str) or not _IDENTIFIER.match(value) or len(value) > limit:
        return None
    cleaned = safe_text(value, limit)
    return cleaned if cleaned == value else None


def fingerprint(value: object) -> str | None:
    """A shape fingerprint (``sha256:<hex>`` or bare hex, several joined by ``+``), or None."""
    if not isinstance(value, str) or len(value) > _FINGERPRINT_LIMIT:
        return None
    return value if _FINGERPRINT.match(value) else None


def safe_url(value: object, limit: int = 500) -> str | None:
    """A URL to store: scheme, host, port and path only (no user info, query or fragment)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parts = urlsplit(strip_controls(value).strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    return safe_text(urlunsplit((parts.scheme, host + port, parts.path, "", "")), limit)


def shown(value: object, limit: int = 120) -> str:
    """Text for a terminal or a page: control characters stripped, shortened; "-" for nothing."""
    if value is None:
        return "-"
    text = strip_controls(str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"
