"""Tenant text per medium (harness/escape.py): nothing that moves the cursor, reorders what is shown or becomes
markup survives; JSON keeps its value and loses only the raw characters that act."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.escape import html, json_text, markdown, plain

ACTING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
TEXT = st.text(alphabet=st.sampled_from(list("ab é<>|#*\n\r\t\x1b[]0;m\x07\x85\x9b\u202e\u2066\u200f\u2028😀")),
               max_size=30)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_plain_text_keeps_no_control_escape_or_bidirectional_character(text: str) -> None:
    one_line = plain(text)
    assert not ACTING.search(one_line) and "\n" not in one_line and "\u2028" not in one_line
    assert not ACTING.search(plain(text, single_line=False))
    assert not ACTING.search(markdown(text)) and not ACTING.search(html(text))


def test_what_plain_text_keeps() -> None:
    assert plain("Zoë \u202eevil\u202c \x1b[31mred\x1b[0m\nnext") == "Zoë evil red next"
    assert plain("a\r\nb\tc", single_line=False) == "a\nb\tc"


@settings(max_examples=300, deadline=None)
@given(st.recursive(TEXT | st.integers() | st.none(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8))
def test_json_text_is_the_same_json_with_nothing_raw_that_acts(value: object) -> None:
    text = json_text(json.dumps(value, ensure_ascii=False))
    assert json.loads(text) == value
    assert not re.search("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]", text)
    assert json_text(json.dumps("Zoë 😀", ensure_ascii=False)) == '"Zoë 😀"'
