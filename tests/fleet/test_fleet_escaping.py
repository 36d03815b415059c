"""Tenant strings escaped where they land: the terminal (no escape sequence, no control, no Rich
markup), fleet.csv (no formula), fleet.html (no HTML), fleet.json (no C1 control), Allure."""

from __future__ import annotations

import csv
import json

import pytest

from harness.fleet.text import clip, csv_cell, json_text, markdown_text, terminal_text
from tests.fleet.fleet_helpers import FAST, fleet
from tests.fleet.local_servers import Server, json_reply

CLEAR = "\x1b[2J\x1b[H"
LINK = "\x1b]8;;https://evil.example.org\x07click\x1b]8;;\x07"
TITLE = "\x1b]0;owned\x1b\\"
CSI8 = "\x9b31m"
FAKE_GATE = f"{CLEAR}{LINK}{TITLE}{CSI8}\r\ngate: PASSED [/bold] [link=https://evil.example.org]x[/link] \u202eevil"


@pytest.mark.parametrize("raw, shown", [
    (CLEAR + "ok", "ok"),
    (LINK, "click"),
    (TITLE + "t", "t"),
    ("\x1b]52;c;ZXZpbA==\x07copy", "copy"),
    (CSI8 + "red", "red"),
    ("a\x00b\x07c\x7fd\x85e\x9dosc payload\x9cf", "abcd ef"),
    ("line\r\nbreak\ttab", "line break tab"),
    ("\u202egnp.exe", "gnp.exe"),
    ("[bold]markup[/bold]", "[bold]markup[/bold]"),
    ("Hämeenlinna – Kätilö", "Hämeenlinna – Kätilö"),
])
def test_terminal_text(raw, shown):
    assert terminal_text(raw) == shown


def test_csv_json_markdown_and_clip():
    for bad in ("=HYPERLINK(\"https://evil\")", "+1+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "\uff1d1+1"):
        assert csv_cell(bad) == "'" + bad
    assert csv_cell("Cedar Health") == "Cedar Health" and csv_cell(12) == 12
    assert json.loads(json_text(json.dumps("a\x9bb\u202ec", ensure_ascii=False))) == "a\x9bb\u202ec"
    assert "\x9b" not in json_text(json.dumps("a\x9bb", ensure_ascii=False))
    assert markdown_text("<b>*x*</b> [a](b)") == "&lt;b&gt;\\*x\\*&lt;/b&gt; \\[a\\]\\(b\\)"
    assert clip("x" * 500, 10) == "x" * 9 + "…"


def test_hostile_tenant_strings_reach_no_output_raw(tmp_path, capsys, monkeypatch):
    versions = iter([f"{FAKE_GATE} one", f"{FAKE_GATE} two"])
    current = {"version": next(versions)}

    def route(path: str):
        if path.endswith("/metadata"):
            return json_reply({"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
                               "software": {"name": "<script>alert(1)</script>", "version": current["version"]},
                               "rest": []})
        return json_reply({"grant_types_supported": ["client_credentials"]})

    names = ['=HYPERLINK("https://evil.example.org","Cedar")', f"Maple {CLEAR}<img src=x onerror=alert(1)>\x9b2J"]
    with Server({"/t/*": route}) as server:
        listing = tmp_path / "bases.txt"
        listing.write_text("".join(f"{server.origin()}/t/t{i}/api/FHIR/R4  {n}\n" for i, n in enumerate(names)),
                           "utf-8")
        assert fleet("--endpoints", str(listing), "--report-dir", str(tmp_path / "one"), *FAST) == 0
        current["version"] = next(versions)
        monkeypatch.setattr("harness.fleet.cli.interactive", lambda stream=None: True)  # the Rich terminal path
        assert fleet("--endpoints", str(listing), "--report-dir", str(tmp_path / "two"), "--baseline",
                     str(tmp_path / "one" / "fleet.json"), *FAST) == 0
    out, err = capsys.readouterr()
    assert "release-changed" in out and "gate: PASSED [/bold] [link=https://evil.example.org]x[/link]" in out
    for sequence in ("\x1b", "\x07", "\x9b", "\u202e", "\r"):
        assert sequence not in out + err, repr(sequence)

    folder = tmp_path / "two"
    with (folder / "fleet.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["name"] == "'" + names[0] and rows[0]["organizations"] == "'" + names[0]
    page = (folder / "fleet.html").read_text("utf-8")
    assert "<script>alert" not in page and "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    raw = (folder / "fleet.json").read_text("utf-8")
    assert "\x9b" not in raw and "\u202e" not in raw and "\x1b" not in raw
    assert json.loads(raw)["tenants"][1]["name"] == names[1]  # kept, as written, in JSON escapes
    for result in (folder / "allure-results").glob("*-result.json"):
        text = result.read_text("utf-8")
        assert "\x9b" not in text and "\u202e" not in text and "\x1b" not in text
        description = json.loads(text)["description"]
        assert "<img" not in description and "<script" not in description and "\x1b" not in description
