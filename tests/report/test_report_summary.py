"""summary.json says what the results say, for machines; summary.md leads with what failed, says identical failures
once, keeps passing checks to tables, and no tenant text becomes Markdown, HTML or a line of its own."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.report import findings
from harness.report.summary import render_md, write_summary_json
from tests.report.sample import HOSTILE, NOT_DECLARED, PRACTITIONER_APIS, sample_results


def test_summary_json_is_the_results_and_the_gate(tmp_path: Path) -> None:
    results = sample_results()
    write_summary_json(results, tmp_path / "summary.json")
    summary = json.loads((tmp_path / "summary.json").read_text("utf-8"))
    assert summary["counts"] == results.counts() == {"failed": 12, "broken": 1, "blocked": 5, "inconclusive": 1,
                                                     "skipped": 3, "warning": 1, "passed": 32}
    assert summary["gate"] == "failed" and summary["exit_code"] == 1
    assert summary["gate_reasons"] == results.gate.reasons and summary["gate_not_verified"] == results.gate.not_verified
    assert [c["id"] for c in summary["checks"]] == [c.id for c in results.checks]
    assert summary["root_causes"] == [{"check": "exercise.search[Patient.Search (Demographics) (R4)]",
                                       "reason": "the API's own exercise check broken: there is no answer to judge",
                                       "blocked": 5}]
    assert summary["verified_apis"] == {"verified": 30, "requested": 43}
    # a machine reads the tenant's text as it was answered; the file itself holds nothing raw that a terminal acts on
    assert next(c for c in summary["checks"] if c["check_id"] == "exercise.read")["message"] == HOSTILE
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]",
                         (tmp_path / "summary.json").read_text("utf-8"))


def _sections(text: str) -> list[str]:
    return [line[3:] for line in text.splitlines() if line.startswith("## ")]


def test_summary_md_leads_with_what_failed_and_what_to_do() -> None:
    text = render_md(sample_results())
    assert _sections(text)[:4] == ["Why the gate did not pass", "Blocked", "What has to be done", "Not verified"]
    assert text.index("## Coverage matrix") > text.index("## Not verified")
    assert f"- Checks: {findings.count_line(sample_results())}\n" in text
    assert "- Gate: **FAILED** (NOT READY); verified 30 of 43 requested APIs" in text


def test_summary_md_says_identical_failures_once_under_who_must_act() -> None:
    text = render_md(sample_results())
    todo = text[text.index("## What has to be done"):text.index("## Not verified")]
    assert todo.count(NOT_DECLARED) == 1
    assert "(10 checks: Practitioner.Read (Organizational Directory) (R4), " in todo and "(+2 more)" in todo
    assert "### the customer's Epic team: the tenant's configuration" in todo
    assert "### Epic technical services: the tenant answers wrongly" in todo
    assert todo.index("customer's Epic team") < todo.index("Epic technical services") < todo.index("harness maintainers")
    assert text.count("- 5 check(s) blocked by exercise.search[") == 0  # Markdown-escaped, once:
    assert text.count(r"- 5 check(s) blocked by exercise.search\[Patient.Search (Demographics) (R4)\]") == 1


def test_summary_md_keeps_passing_checks_to_tables() -> None:
    results = sample_results()
    text = render_md(results)
    passing = {c.check_id for c in results.checks if c.outcome.proved} - {c.check_id for c in results.checks
                                                                          if not c.outcome.proved}
    bullets = [line for line in text.splitlines() if line.lstrip().startswith("- ")]
    assert passing and not [line for line in bullets for check_id in passing if check_id in line]
    per_group = text[text.index("## Checks by group"):].splitlines()
    assert "| API coverage | 10 | 0 | 0 | 0 | 0 | 0 | 30 |" in per_group
    rows = [line for line in text.splitlines() if line.startswith("| Practitioner.")]
    assert len(rows) == len(PRACTITIONER_APIS) and all("| NO | yes | - | NO | not declared |" in r for r in rows)


def test_tenant_text_in_summary_md_stays_text() -> None:
    text = render_md(sample_results())
    assert "\x1b" not in text and "\u202e" not in text and "\u202c" not in text and "\r" not in text
    assert not re.search(r"(?m)^#+ Injected", text) and not re.search(r"(?m)^\| cell", text)
    assert "<script>" not in text and r"\<script\>alert(1)\</script\>" in text
    assert text.startswith(r"# Epic conformance: St. Elsewhere \<b\>Health\</b\> \| \# \*x\* Gate=passed" + "\n")
    # every row of the coverage matrix keeps its seven cells, whatever its detail says
    for line in text.splitlines():
        if line.startswith("| Patient.Read (Demographics) (R4) |"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 8, line
