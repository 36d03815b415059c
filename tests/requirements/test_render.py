"""The coverage renderings: JSON-able, Markdown, an escaped self-contained HTML fragment, terminal-safe text."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from harness.requirements import (
    CheckOutcome, anchor_of, compute_coverage, load_catalogue, to_dict, to_html, to_markdown, to_text,
)
from harness.requirements.catalogue import build_catalogue

HOSTILE = '<script>alert(1)</script> | [bold]x[/bold] \x1b[31mred\x1b[0m'


@pytest.fixture
def catalogue():
    source = {"source": {"key": "spec", "title": "Spec <b>", "document": "Spec", "version": "1",
                         "url": "https://example.org/spec", "licence": "CC0", "id_scheme": "spec@N"},
              "requirement": [
                  {"id": "spec@1", "url": "https://example.org/spec.html#token", "verb": "SHALL", "actor": "server",
                   "topic": "token", "text": "The server SHALL issue a token | a pipe & an <angle>."},
                  {"id": "spec@2", "url": "https://example.org/spec.html#cache", "verb": "SHALL NOT",
                   "actor": "authorization server", "topic": "cache", "text": "It SHALL NOT cache.", "testable": False,
                   "reason": "server-internal: JWKS caching"},
              ]}
    # a parameter named in the mapping is shown with the check: here one a hostile result could carry
    mapping = {"checks": {"token.issued": {"requirements": ["spec@1"],
                                           "params": {HOSTILE: {"requirements": ["spec@1"]}}}}}
    return build_catalogue({"spec.toml": source}, mapping)


@pytest.fixture
def coverage(catalogue):
    return compute_coverage([CheckOutcome("token.issued", HOSTILE, "failed"),
                             CheckOutcome("token.issued", None, "passed")], catalogue)


def test_the_dict_is_json_and_carries_statuses_totals_and_checks(coverage) -> None:
    data = json.loads(json.dumps(to_dict(coverage)))
    rows = {r["id"]: r for r in data["requirements"]}
    assert rows["spec@1"]["status"] == "failed"
    assert rows["spec@1"]["checks"][0] == {"check_id": "token.issued", "param": HOSTILE, "outcome": "failed"}
    assert rows["spec@2"] | {} == rows["spec@2"] and rows["spec@2"]["reason"] == "untestable"
    assert rows["spec@2"]["untestable_reason"] == "server-internal: JWKS caching"
    totals = {t["verb"]: t for t in data["totals"]}
    assert totals["SHALL"]["summary"] == "Spec <b>: 0 of 1 SHALLs verified, 1 failed"
    assert totals["SHALL NOT"]["untestable"] == 1
    assert data["counts"]["failed"] == 1 and data["sources"][0]["url"] == "https://example.org/spec"


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "a":
            self.links.append(attrs["href"])
        if "id" in attrs:
            self.ids.append(attrs["id"])


def test_the_html_fragment_is_escaped_self_contained_and_links_each_requirement(coverage) -> None:
    fragment = to_html(coverage)
    parsed = _Collect()
    parsed.feed(fragment)
    assert "script" not in parsed.tags and "<script>" not in fragment
    assert "&lt;script&gt;" in fragment and "&lt;angle&gt;" in fragment and "Spec &lt;b&gt;" in fragment
    assert "https://example.org/spec.html#token" in parsed.links and "https://example.org/spec.html#cache" in parsed.links
    assert anchor_of("spec@1") in parsed.ids
    assert "\x1b" not in fragment
    assert not re.search(r'(src|href)="(?!https?://)', fragment)  # nothing but the sources' own links
    assert fragment.startswith('<section class="requirements-coverage">') and fragment.endswith("</section>")
    assert "server-internal: JWKS caching" in fragment


def test_markdown_escapes_cells_and_links_ids(coverage) -> None:
    text = to_markdown(coverage)
    row = next(line for line in text.splitlines() if line.startswith("| [spec@1]"))
    assert "(https://example.org/spec.html#token)" in row and "FAILED" in row
    assert row.count(" | ") == 5  # six cells: the pipes in the text and the parameter are escaped
    assert "\\|" in row and "\x1b" not in text
    assert "| Spec <b> | SHALL | 0 of 1 | 1 | 0 | 0 |" in text


def test_terminal_text_has_no_control_characters_and_no_markup_interpreted(coverage) -> None:
    text = to_text(coverage, details=True, width=200)
    assert "\x1b" not in text
    assert "[bold]x[/bold]" in text  # shown, not applied
    assert "Spec <b>" in text and "0 of 1" in text
    assert "spec@1" in text and "FAILED" in text


def test_the_shipped_catalogue_renders_in_every_form() -> None:
    coverage = compute_coverage([CheckOutcome("auth.token.refuses", "aud", "failed")], load_catalogue())
    assert json.dumps(to_dict(coverage))
    assert "rfc7523@3-3" in to_markdown(coverage)
    assert 'id="req-rfc7523-3-3"' in to_html(coverage)
    assert "SMART Backend Services" in to_text(coverage)
