"""Tenant strings made safe for where they land: a terminal, a CSV cell, Markdown, a JSON file.

Everything a tenant or a directory entry controls (organisation names, ``software.version``, a
``Content-Type``, a certificate's issuer, a redirect's ``Location``) reaches the fleet's outputs.
Each medium gets its own treatment:

- :func:`terminal_text`: escape sequences removed whole (CSI, OSC with its payload, other ESC
  sequences), then every C0 and C1 control, DEL and bidirectional override; line breaks and tabs
  become spaces. Printed with Rich, the text is passed with markup off.
- :func:`csv_cell`: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab, CR or LF (or their
  full-width forms) gets a leading ``'`` so that a spreadsheet reads it as text, not a formula.
- :func:`markdown_text`: HTML and Markdown punctuation escaped, for Allure descriptions.
- :func:`json_text`: JSON text with C1 controls and bidirectional overrides written as ``\\uXXXX``
  (JSON already escapes C0), so that ``cat fleet.json`` cannot drive a terminal either.
- :func:`clip`: one line, at most N characters, for details composed from tenant text.
"""

from __future__ import annotations

import re

# ESC [ ... final byte | ESC ] ... (BEL | ESC \) | ESC P/X/^/_ ... ESC \ | ESC + one character
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x9d[^\x07\x9c]*[\x07\x9c]?"
)
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI + "]")
_BREAKS = re.compile(r"[\t\n\r\f\v\u2028\u2029\x85]+")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_JSON_UNSAFE = re.compile("[\x7f-\x9f" + _BIDI + "\u2028\u2029]")


def terminal_text(value: object) -> str:
    """``value`` as text a terminal shows and never interprets: no escape sequence, no control."""
    text = "" if value is None else str(value)
    text = _ESCAPES.sub("", text)
    text = _BREAKS.sub(" ", text)
    return _CONTROLS.sub("", text)


def clip(value: object, limit: int = 160) -> str:
    """One line of at most ``limit`` characters, controls removed."""
    text = terminal_text(value).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet never evaluates: text starting like a formula is quoted with ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def markdown_text(value: object) -> str:
    """Text for a Markdown document: no HTML, no Markdown syntax, no controls."""
    text = terminal_text(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text)


def json_text(text: str) -> str:
    """JSON text (from ``json.dumps``) with C1 controls, DEL and bidirectional overrides escaped."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)
