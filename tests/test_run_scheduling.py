"""Scheduling end to end: the SDS readiness checklist names exactly the step left undone, and $book round-trips."""

from __future__ import annotations

import json

import pytest

from harness.scheduling import FindResult, VisitType, diagnose
from tests.conftest import INCOMPLETE

SELECT = ["-m", "scheduling", "-k", "scheduling_find or test_find or test_book"]


def steps(run) -> dict[str, str]:
    return {s["step"][0]: s["verdict"] for s in run.check("scheduling.find[Appointment.$find (STU3)]")["data"]["sds"]}


def test_default_sandbox_has_every_step_done_and_books(sandbox_run) -> None:
    run = sandbox_run(pytest_args=SELECT, extra=["--allow-writes"])
    assert run.exit_code == INCOMPLETE, run.summary["gate_reasons"]  # a selection: nothing failed
    assert set(run.outcomes().values()) == {"passed"}
    assert steps(run) == {"1": "done", "2": "done", "3": "done"}
    booked = run.check("scheduling.book[Appointment.$book (STU3)]")
    assert booked["outcome"] == "passed" and "second $book was refused" in booked["notes"][0]
    assert run.api("Appointment.$find (STU3)")["exercised"] == "passed"
    html = (run.report_dir / "summary.html").read_text()
    assert "Scheduling Decision Support readiness" in html
    results = [json.loads(p.read_text()) for p in (run.report_dir / "allure-results").glob("*-result.json")]
    find = next(r for r in results if "$find" in r["name"])
    exchanges = next(a for a in find["attachments"] if a["name"].startswith("HTTP exchanges"))
    body = (run.report_dir / "allure-results" / exchanges["source"]).read_text()
    assert "Appointment/$find" in body and "serviceType" in body


@pytest.mark.parametrize(("fault", "undone"), [("sds-undone:provider-rules", "1"), ("sds-undone:visit-types", "2")])
def test_each_undone_step_is_named_and_fails_the_gate(sandbox_run, fault: str, undone: str) -> None:
    run = sandbox_run(fault, pytest_args=SELECT)
    assert run.exit_code == 1
    verdicts = steps(run)
    assert verdicts[undone] == "not done"
    assert [k for k, v in verdicts.items() if v == "not done"] == [undone]
    find = run.check("scheduling.find[Appointment.$find (STU3)]")
    assert find["category"] == "tenant-configuration" and f"step {undone} not done" in find["message"]


def test_no_open_slots_is_not_the_tenants_fault(sandbox_run) -> None:
    run = sandbox_run("sds-no-open-slots", pytest_args=SELECT)
    assert run.exit_code == INCOMPLETE and not run.summary["gate_reasons"]
    find = run.check("scheduling.find[Appointment.$find (STU3)]")
    assert find["outcome"] == "warning" and "no open slots" in find["message"]


def test_diagnosis_rules() -> None:
    vt = VisitType("urn:oid:1.2.840.114350.1.13.0.1.7.3.808267.11", "1004")
    ok = FindResult(appointments=[{"id": "a"}])
    tree = FindResult(codes=[("59200", "decision tree")])
    empty = FindResult(codes=[("4101", "no results")])
    assert [s.verdict for s in diagnose({vt: ok}, {(vt, "p"): ok}, "non-production")] == ["done", "done", "done"]
    assert [s.verdict for s in diagnose({vt: tree}, {}, "non-production")][:2] == ["cannot tell", "not done"]
    assert diagnose({vt: ok}, {(vt, "p"): tree}, "non-production")[0].verdict == "not done"
    assert "no open slots" in diagnose({vt: ok}, {(vt, "p"): empty}, "non-production")[0].evidence
    assert diagnose({vt: ok}, {(vt, "p"): ok}, "production")[2].verdict == "not done"
    others = FindResult(appointments=[{"id": "b"}], problems=["Appointment b is not with the provider asked for (p)"])
    step1 = diagnose({vt: ok}, {(vt, "p"): others}, "non-production")[0]
    assert step1.verdict == "not done" and "other providers' slots" in step1.evidence
