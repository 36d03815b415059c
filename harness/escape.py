"""Tenant strings, escaped for the medium they land in: terminal, Markdown, HTML, CSV.

A tenant chooses the text of its CapabilityStatement, its OperationOutcomes and its error
descriptions. None of it may move the terminal's cursor, start a Markdown line of its own, become
markup, or run as a spreadsheet formula; JSON written for people's tools keeps none of it raw.
"""

from __future__ import annotations

import html as _html
import re

# ESC-introduced sequences (CSI, OSC ... up to BEL or ST, two-character escapes), then any other C0/C1 control.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]"
                      r"|\x9d[^\x07\x9c]*(?:\x07|\x9c)?")
# Bidirectional formatting characters reorder what is shown (text that reads otherwise than it is): removed too.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROLS = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_BIDI}]")
_NEWLINES = re.compile(r"[\r\n\t\u2028\u2029\x85]+")
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|#~!])")
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\n")
# What json.dumps(..., ensure_ascii=False) leaves raw and a terminal or a browser would act on.
_JSON_UNSAFE = re.compile(f"[\\x7f-\\x9f{_BIDI}\\u2028\\u2029]")


def plain(text: object, *, single_line: bool = True) -> str:
    """The text with escape sequences, control and bidirectional formatting characters removed (newlines
    folded unless kept)."""
    value = _ESCAPES.sub("", str(text))
    if single_line:
        value = _NEWLINES.sub(" ", value)
    else:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", value)  # tabs and line breaks are not in it: folded above, or kept


def terminal(text: object) -> str:
    """For a terminal: one line, no escape sequences or controls. Print it with markup off."""
    return plain(text)


def markdown(text: object) -> str:
    """For one Markdown line or table cell: no line breaks, no markup, no HTML."""
    return _MARKDOWN.sub(r"\\\1", plain(text))


def html(text: object, *, single_line: bool = False) -> str:
    return _html.escape(plain(text, single_line=single_line), quote=True)


def json_text(dumped: str) -> str:
    """JSON text (as ``json.dumps(..., ensure_ascii=False)`` writes it) with DEL, C1 controls, bidirectional
    formatting characters and line separators written as ``\\uXXXX``: the same JSON, nothing raw that acts."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


def csv_cell(text: object) -> str:
    """For a CSV cell: a leading character a spreadsheet would read as a formula is neutralised."""
    value = plain(text)
    return f"'{value}" if value.startswith(_FORMULA) else value
