"""End to end: the README's first command, `epic-harness run` with no --tenant, against the embedded sandbox.

Each exercise check passing and failing is shown in process (tests/suites/test_exercise.py and the other
tests/suites/ files); this one run proves the whole path: the CLI embeds the sandbox, every requested API is
verified, one token serves the run, the gate passes with exit 0, and the reports carry what the checks found
(the SDS readiness checklist, the HTTP exchanges of a check)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PASSED, HarnessRun, run_harness

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> HarnessRun:
    return run_harness(tmp_path_factory.mktemp("default-run") / "report")


def test_the_readme_command_verifies_all_149_apis(default_run: HarnessRun) -> None:
    run = default_run
    not_proved = [c for c in run.summary["checks"] if c["outcome"] not in ("passed", "warning")]
    assert run.exit_code == PASSED, [(c["id"], c["outcome"], c["message"]) for c in not_proved][:8]
    assert "API coverage: sandbox (149 requested)" in run.stdout and "gate: PASSED" in run.stdout
    summary = run.summary
    assert summary["gate"] == "passed" and summary["environment"] == "non-production"
    assert summary["verified_apis"] == {"verified": 149, "requested": 149}
    assert run.api("Appointment.$find (STU3)")["declared"] is None and run.api("GetWaitTimes")["declared"] is None
    assert run.check("discovery.smart-configuration.signing-algorithms")["outcome"] == "warning"
    assert summary["stats"]["token_requests"] == 1
    practitioner = run.api("Practitioner.Search (Organizational Directory) (R4)")
    assert (practitioner["declared"], practitioner["granted"], practitioner["exercised"]) == (True, True, "passed")
    assert practitioner["shape"]
    assert run.api("Patient.Create (Demographics) (R4)")["exercised"] == "passed"
    assert run.api("Appointment.$find (STU3)")["exercised"] == "passed"


def test_its_reports_carry_the_sds_checklist_and_each_checks_exchanges(default_run: HarnessRun) -> None:
    report = default_run.report_dir
    for name in ("junit.xml", "summary.md", "summary.html", "allure-results"):
        assert (report / name).exists()
    find = default_run.check("scheduling.find[Appointment.$find (STU3)]")
    assert {s["step"][0]: s["verdict"] for s in find["data"]["sds"]} == {"1": "done", "2": "done", "3": "done"}
    assert "Scheduling Decision Support readiness" in (report / "summary.html").read_text()
    results = [json.loads(p.read_text()) for p in (report / "allure-results").glob("*-result.json")]
    allure = next(r for r in results if r["fullName"].startswith("scheduling.find["))
    exchanges = next(a for a in allure["attachments"] if a["name"].startswith("HTTP exchanges"))
    body = (report / "allure-results" / exchanges["source"]).read_text()
    assert "Appointment/$find" in body and "serviceType" in body
