"""End to end: every requested API is exercised, and each FHIR fault of one API is caught with the right message
while every other API still runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import INCOMPLETE, PASSED, run_harness


def test_embedded_default_run_exercises_all_149_apis(tmp_path: Path) -> None:
    """The README's first command: no --tenant, the embedded sandbox, the whole suite: every API verified."""
    run = run_harness(tmp_path / "report")
    not_proved = [c for c in run.summary["checks"] if c["outcome"] not in ("passed", "warning")]
    assert run.exit_code == PASSED, [(c["id"], c["outcome"], c["message"]) for c in not_proved][:8]
    assert "API coverage: sandbox (149 requested)" in run.stdout and "gate: PASSED" in run.stdout
    summary = run.summary
    assert summary["gate"] == "passed" and summary["environment"] == "non-production"
    assert summary["verified_apis"] == {"verified": 149, "requested": 149}
    assert run.api("Appointment.$find (STU3)")["declared"] is None and run.api("GetWaitTimes")["declared"] is None
    assert run.check("discovery.smart-configuration.signing-algorithms")["outcome"] == "warning"
    for name in ("junit.xml", "summary.md", "summary.html", "allure-results"):
        assert (run.report_dir / name).exists()
    assert summary["stats"]["token_requests"] == 1
    practitioner = run.api("Practitioner.Search (Organizational Directory) (R4)")
    assert (practitioner["declared"], practitioner["granted"], practitioner["exercised"]) == (True, True, "passed")
    assert practitioner["shape"]
    assert run.api("Patient.Create (Demographics) (R4)")["exercised"] == "passed"


@pytest.mark.parametrize(
    ("fault", "selection", "check_id", "words", "category"),
    [
        ("fhir-status:Coverage=500", "Coverage", "exercise.search[Coverage.Search (Patient Insurance Information) (R4)]",
         "HTTP 500", "tenant-fault"),
        ("fhir-html-500:Coverage", "Coverage", "exercise.search[Coverage.Search (Outside Record) (R4)]",
         "an HTML page", "tenant-fault"),
        ("fhir-content-type:Location=text/plain", "Location", "exercise.search[Location.Search (Organizational Directory) (R4)]",
         "Content-Type text/plain", "tenant-fault"),
        ("fhir-invalid:Patient", "Patient", "exercise.read[Patient.Read (Demographics) (R4)]",
         "does not conform to FHIR R4", "tenant-fault"),
        ("fhir-looping-next:Encounter", "Encounter", "exercise.search[Encounter.Search (Patient Chart) (R4)]",
         "a paging loop", "tenant-fault"),
        ("fhir-missing-page:Encounter", "Encounter", "exercise.search[Encounter.Search (Patient Chart) (R4)]",
         "a next link given by the tenant fails", "tenant-fault"),
        ("fhir-duplicate-entries:Encounter", "Encounter", "exercise.search[Encounter.Search (Patient Chart) (R4)]",
         "more than one page", "tenant-fault"),
        ("fhir-not-authorized:Flag", "Flag", "exercise.search[Flag.Search (Patient FYI) (R4)]",
         "59204", "tenant-configuration"),
        ("grant-fewer-scopes:Task", "Task", "exercise.search[Task.Search (Community Resource) (R4)]",
         "not granted", "tenant-configuration"),
    ],
)
def test_fault_caught_and_others_still_run(sandbox_run, fault: str, selection: str, check_id: str, words: str,
                                           category: str) -> None:
    run = sandbox_run(fault, pytest_args=["-m", "exercise", "-k", f"{selection} or Practitioner"])
    assert run.exit_code == 1
    check = run.check(check_id)
    assert check["outcome"] == "failed" and words in check["message"], check["message"]
    assert check["category"] == category
    assert run.check("exercise.search[Practitioner.Search (Organizational Directory) (R4)]")["outcome"] == "passed"
    assert all(c["outcome"] != "broken" for c in run.summary["checks"])


def test_empty_results_are_not_a_failure(sandbox_run) -> None:
    run = sandbox_run("fhir-empty:Consent", pytest_args=["-m", "exercise", "-k", "Consent"])
    assert run.exit_code == INCOMPLETE  # only a selection ran
    search = run.check("exercise.search[Consent.Search (Code Status) (R4)]")
    assert search["outcome"] == "passed" and any("4101" in n for n in search["notes"])


def test_writes_run_only_when_allowed(sandbox_run, tmp_path: Path) -> None:
    run = sandbox_run(pytest_args=["-m", "exercise", "-k", "create or update"], extra=["--allow-writes"])
    created = run.check("exercise.create[Patient.Create (Demographics) (R4)]")
    assert created["outcome"] == "passed", created["message"]
    assert any("conformance-test" in n for n in created["notes"])
    from tests.conftest import tenant_variant

    read_only = tenant_variant(tmp_path, replace={"allow_writes = true": "allow_writes = false"})
    off = sandbox_run(pytest_args=["-m", "exercise", "-k", "create or update"], tenant=read_only)
    writes = {k: v for k, v in off.outcomes().items() if k.startswith(("exercise.create", "exercise.update"))}
    assert writes and set(writes.values()) == {"skipped"}
    assert all("a write" in c["message"] for c in off.summary["checks"] if c["check_id"] == "exercise.create")


def test_an_api_not_declared_is_reported_once_and_not_exercised(sandbox_run) -> None:
    run = sandbox_run("metadata-drop-resource:R4=Practitioner",
                      pytest_args=["-k", "Practitioner and (declared or read or search or probe)"])
    declared = run.check("coverage.declared[Practitioner.Read (Organizational Directory) (R4)]")
    assert declared["outcome"] == "failed" and declared["message"].startswith("not offered")
    for check_id in ("exercise.read[Practitioner.Read (Organizational Directory) (R4)]",
                     "exercise.search[Practitioner.Search (Organizational Directory) (R4)]",
                     "probe.search[Practitioner.Search (Organizational Directory) (R4)]"):
        check = run.check(check_id)
        assert check["outcome"] == "blocked" and check["blocked_by"].startswith("coverage.declared["), check
    failed = [c["id"] for c in run.summary["checks"] if c["outcome"] == "failed"]
    assert all(c.startswith("coverage.declared[Practitioner") for c in failed), failed
    assert run.check("exercise.read[Practitioner.Read (STU3)]")["outcome"] == "passed"  # STU3 still declares it
