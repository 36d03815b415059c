"""The exercise checks (suites/test_exercise.py, with suites/exercise.py) judged in process: every requested
API read, searched, created and updated passes on the correct sandbox and on a correct server that is not
Epic-shaped; each FHIR fault of one API fails that API's check with the right message and who must act, while
an API the fault does not touch still passes; writes run only where allowed; an API not declared is blocked
by its coverage check, never failed again."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.support.checks import ROOT, judge, judge_each, sandbox_tenant, tenant_state
from tests.support.smart_server import smart_server, tenant_file

PRACTITIONERS = "Practitioner.Search (Organizational Directory) (R4)"
REST_CHECKS = ("exercise.read", "exercise.search", "exercise.create", "exercise.update")


def test_every_requested_rest_api_passes_on_the_correct_sandbox() -> None:
    with tenant_state() as state:
        judged = {rid: j for check_id in REST_CHECKS for rid, j in judge_each(state, check_id).items()}
        requests = state.client.requests_sent
    counts = Counter(rid.split("[")[0] for rid in judged)
    assert counts == {"exercise.search": 59, "exercise.read": 69, "exercise.create": 9, "exercise.update": 2}, counts
    bad = [j for j in judged.values() if j.outcome not in ("passed", "warning")]
    assert not bad, bad[:5]
    search = judged[f"exercise.search[{PRACTITIONERS}]"]
    assert search.result.shape and any("page(s)" in n for n in search.result.notes)
    read = judged["exercise.read[Patient.Read (Demographics) (R4)]"]
    assert read.result.notes == ["read Patient/erXuFYUfucBZaryVksYEcMg3"]
    created = judged["exercise.create[Patient.Create (Demographics) (R4)]"]
    assert any("tagged conformance-test" in n for n in created.result.notes), created.result.notes
    assert any("tagged conformance-test" in n for n in judged["exercise.update[Task.Update (Community Resource) (R4)]"].result.notes)
    assert requests < 250  # one search per API, shared by the read checks that need an id from it


def test_a_correct_server_that_is_not_epic_passes_the_read(tmp_path: Path) -> None:
    with tenant_state(app=smart_server(), tenant_file=tenant_file(tmp_path, ROOT, scope="system/Patient.rs")) as state:
        read = judge(state, "exercise.read", api="Patient.Read (Demographics) (R4)")
    assert read.outcome == "passed" and read.result.notes == ["read Patient/p1"], read


def test_standard_paging_passes_every_search_without_a_quirk() -> None:
    with tenant_state("fhir-standard-paging") as state:
        judged = judge_each(state, "exercise.search", apis=[PRACTITIONERS, "Encounter.Search (Patient Chart) (R4)"])
    assert {j.outcome for j in judged.values()} == {"passed"}, judged


@pytest.mark.parametrize(
    ("fault", "check_id", "api", "words", "category"),
    [
        ("fhir-status:Coverage=500", "exercise.search", "Coverage.Search (Patient Insurance Information) (R4)",
         "HTTP 500", "tenant-fault"),
        ("fhir-html-500:Coverage", "exercise.search", "Coverage.Search (Outside Record) (R4)", "an HTML page",
         "tenant-fault"),
        ("fhir-content-type:Location=text/plain", "exercise.search", "Location.Search (Organizational Directory) (R4)",
         "Content-Type text/plain", "tenant-fault"),
        ("fhir-invalid:Patient", "exercise.read", "Patient.Read (Demographics) (R4)", "does not conform to FHIR R4",
         "tenant-fault"),
        ("fhir-invalid:Encounter", "exercise.search", "Encounter.Search (Patient Chart) (R4)",
         "resources from Encounter search do not conform to FHIR R4", "tenant-fault"),
        ("fhir-looping-next:Encounter", "exercise.search", "Encounter.Search (Patient Chart) (R4)", "a paging loop",
         "tenant-fault"),
        ("fhir-missing-page:Encounter", "exercise.search", "Encounter.Search (Patient Chart) (R4)",
         "a next link given by the tenant fails", "tenant-fault"),
        ("fhir-duplicate-entries:Encounter", "exercise.search", "Encounter.Search (Patient Chart) (R4)",
         "more than one page", "tenant-fault"),
        ("fhir-not-authorized:Flag", "exercise.search", "Flag.Search (Patient FYI) (R4)", "59204",
         "tenant-configuration"),
        ("grant-fewer-scopes:Task", "exercise.search", "Task.Search (Community Resource) (R4)", "not granted",
         "tenant-configuration"),
        ("fhir-status:Patient=500", "exercise.create", "Patient.Create (Demographics) (R4)", "HTTP 500",
         "tenant-fault"),
        ("fhir-invalid:Task", "exercise.update", "Task.Update (Community Resource) (R4)", "does not conform to FHIR R4",
         "tenant-fault"),
    ],
)
def test_a_fhir_fault_fails_its_api_and_leaves_the_others(fault: str, check_id: str, api: str, words: str,
                                                           category: str) -> None:
    waits: list[float] = []
    with tenant_state(fault, sleep=waits.append) as state:
        judged = judge(state, check_id, api=api)
        other = judge(state, "exercise.search", api=PRACTITIONERS)
    assert judged.outcome == "failed" and words in judged.message, judged
    assert judged.result.category == category
    assert other.outcome == "passed", other


def test_a_failed_search_is_sent_once_however_many_checks_need_it() -> None:
    waits: list[float] = []
    with tenant_state("fhir-status:Coverage=500", sleep=waits.append) as state:
        api = "Coverage.Search (Patient Insurance Information) (R4)"
        first = judge(state, "exercise.search", api=api)
        sent = state.client.requests_sent
        again = judge(state, "exercise.search", api=api)
        assert state.client.requests_sent == sent  # the search cache remembers the failure
    assert first.outcome == again.outcome == "failed" and first.message == again.message


def test_empty_results_are_not_a_failure() -> None:
    with tenant_state("fhir-empty:Consent") as state:
        search = judge(state, "exercise.search", api="Consent.Search (Code Status) (R4)")
        read = judge(state, "exercise.read", api="Consent.Read (Code Status) (R4)")
    assert search.outcome == "passed" and any("4101" in n for n in search.result.notes), search.result.notes
    # nothing to read, and no id in the test data: the read says what to give, it does not guess
    assert read.outcome == "skipped" and "no Consent to read" in read.message, read


def test_writes_run_only_when_allowed() -> None:
    with tenant_state(tenant=sandbox_tenant(checks={"allow_writes": False})) as state:
        writes = {**judge_each(state, "exercise.create"), **judge_each(state, "exercise.update")}
    assert len(writes) == 11 and {j.outcome for j in writes.values()} == {"skipped"}
    assert all("a write" in j.message and j.result.category == "test-data" for j in writes.values())
    with tenant_state(tenant=sandbox_tenant(environment="production")) as state:
        production = judge(state, "exercise.create", api="Patient.Create (Demographics) (R4)")
        read = judge(state, "exercise.read", api="Patient.Read (Demographics) (R4)")
    assert production.outcome == "skipped" and "never writes to a production tenant" in production.message
    assert read.outcome == "passed"  # reads are still sent there


def test_an_api_not_declared_is_failed_once_and_blocks_what_would_send_it() -> None:
    with tenant_state("metadata-drop-resource:R4=Practitioner") as state:
        declared = judge(state, "coverage.declared", api="Practitioner.Read (Organizational Directory) (R4)")
        blocked = [judge(state, "exercise.read", api="Practitioner.Read (Organizational Directory) (R4)"),
                   judge(state, "exercise.search", api=PRACTITIONERS),
                   judge(state, "probe.search", api=PRACTITIONERS),
                   judge(state, "exercise.search", api="PractitionerRole.Search (Organizational Directory) (R4)")]
        stu3 = judge(state, "exercise.read", api="Practitioner.Read (STU3)")
        sent = [e.url for e in state.client.log if re.search(r"/R4/Practitioner\b(?!Role)", e.url)]
    assert declared.outcome == "failed" and declared.message.startswith("not offered"), declared
    assert [j.outcome for j in blocked[:3]] == ["blocked"] * 3, blocked
    assert all(j.result.blocked_by == f"coverage.declared[{j.result.api}]" for j in blocked[:3])
    assert blocked[3].outcome == "passed"  # another resource type is judged as before
    assert sent == [] and stu3.outcome == "passed"  # nothing sent for it in R4; STU3 still declares it


def test_a_failed_exercise_check_blocks_what_judges_its_answer_naming_it() -> None:
    """One failing request is one failure: search semantics, the US Core profile and the data contract are
    blocked by the API's exercise check, with its message, instead of failing again on the same answer."""
    read = "Practitioner.Read (Organizational Directory) (R4)"
    waits: list[float] = []
    with tenant_state("fhir-html-500:Practitioner", sleep=waits.append) as state:
        exercised = [judge(state, "exercise.search", api=PRACTITIONERS), judge(state, "exercise.read", api=read)]
        derived = {rid: j for check_id in ("search.patient-restriction", "search.token", "search.or-list",
                                           "search.count", "search.post-equivalence", "profile.us-core",
                                           "contract.fields")
                   for rid, j in judge_each(state, check_id, apis=[PRACTITIONERS, read]).items()}
        other = judge(state, "exercise.search", api="PractitionerRole.Search (Organizational Directory) (R4)")
    assert [j.outcome for j in exercised] == ["failed", "failed"], exercised
    assert len(derived) >= 6 and {j.outcome for j in derived.values()} == {"blocked"}, derived
    assert all(j.result.blocked_by == f"exercise.{'search' if '.Search' in str(j.result.api) else 'read'}"
                                      f"[{j.result.api}]" for j in derived.values())
    assert all("HTTP 500" in j.message for j in derived.values())
    assert other.outcome == "passed"  # an API the fault does not touch is judged as before
