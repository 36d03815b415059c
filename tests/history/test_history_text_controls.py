"""strip_controls takes printable ASCII as it is and cleans anything else character by character; on any
text it gives what the character-by-character cleaning gives."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.history.text import strip_controls

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def cleaned_one_by_one(text: str) -> str:
    text = "".join(ch for ch in _ANSI.sub("", text) if ch not in _BIDI)
    return "".join(" " if ch in "\t\n\r" else ch for ch in text
                   if ch in "\t\n\r" or ch == "\u200d" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))


PIECES = st.one_of(st.characters(max_codepoint=0x17f), st.sampled_from(list(_BIDI + "\u200d\ud800\ue000")),
                   st.sampled_from(["\x1b[31m", "\x1b]0;title\x07", "\x1bc"]))
TEXT = st.lists(PIECES, max_size=24).map("".join)


@settings(max_examples=500, deadline=None)
@given(TEXT)
def test_any_text_is_cleaned_as_one_character_at_a_time(text: str) -> None:
    assert strip_controls(text) == cleaned_one_by_one(text)


def test_printable_ascii_is_kept_and_controls_are_not() -> None:
    assert strip_controls("hl7.fhir.uv.smart-app-launch_2.2.0@372") == "hl7.fhir.uv.smart-app-launch_2.2.0@372"
    assert strip_controls("a\tb\x1b[2Jc\x7f\u202ed") == "a bcd"
