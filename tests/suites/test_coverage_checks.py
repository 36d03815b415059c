"""coverage.declared and coverage.granted (suites/test_coverage.py) judged in process, for every requested API:
all pass on the correct sandbox; a resource dropped from the CapabilityStatement or a scope not granted fails
exactly the APIs it concerns, naming who must act."""

from __future__ import annotations

from pathlib import Path

from tests.support.checks import ROOT, judge_each, tenant_state
from tests.support.smart_server import smart_server, tenant_file


def test_every_requested_api_is_declared_and_granted_by_the_correct_sandbox() -> None:
    with tenant_state() as state:
        declared = judge_each(state, "coverage.declared")
        granted = judge_each(state, "coverage.granted")
    assert len(declared) == len(granted) > 100
    assert {j.outcome for j in declared.values()} == {"passed"}, [j for j in declared.values() if j.outcome != "passed"]
    assert {j.outcome for j in granted.values()} == {"passed"}, [j for j in granted.values() if j.outcome != "passed"]


def test_a_resource_not_declared_fails_only_its_apis() -> None:
    with tenant_state("metadata-drop-resource:R4=Practitioner") as state:
        declared = judge_each(state, "coverage.declared")
    failed = {rid for rid, j in declared.items() if j.outcome == "failed"}
    assert failed and all("Practitioner." in rid and "(R4)" in rid for rid in failed), failed
    assert "coverage.declared[Practitioner.Read (Organizational Directory) (R4)]" in failed
    assert all(j.outcome == "passed" for rid, j in declared.items() if rid not in failed)


def test_a_scope_not_granted_fails_its_apis_for_the_customer_to_activate() -> None:
    with tenant_state("grant-fewer-scopes:Practitioner") as state:
        granted = judge_each(state, "coverage.granted")
    failed = {rid: j for rid, j in granted.items() if j.outcome == "failed"}
    assert "coverage.granted[Practitioner.Search (Organizational Directory) (R4)]" in failed
    assert all("Practitioner." in rid for rid in failed), sorted(failed)
    one = failed["coverage.granted[Practitioner.Search (Organizational Directory) (R4)]"]
    assert "must activate Practitioner.Search (Organizational Directory) (R4)" in one.message
    assert one.result.category == "tenant-configuration"


def test_an_independent_server_declares_and_grants_its_one_api(tmp_path: Path) -> None:
    with tenant_state(app=smart_server(), tenant_file=tenant_file(tmp_path, ROOT, scope="system/Patient.rs")) as state:
        declared = judge_each(state, "coverage.declared")
        granted = judge_each(state, "coverage.granted")
    assert [j.outcome for j in declared.values()] == ["passed"] and [j.outcome for j in granted.values()] == ["passed"]


def test_an_independent_server_that_declares_nothing_fails_declared(tmp_path: Path) -> None:
    apis = 'list = ["Patient.Read (Demographics) (R4)", "Observation.Search (Labs) (R4)"]'
    with tenant_state(app=smart_server(), tenant_file=tenant_file(tmp_path, ROOT, apis=apis, scope="system/Patient.rs")) as state:
        declared = judge_each(state, "coverage.declared")
        granted = judge_each(state, "coverage.granted")
    assert declared["coverage.declared[Observation.Search (Labs) (R4)]"].outcome == "failed"
    assert granted["coverage.granted[Observation.Search (Labs) (R4)]"].outcome == "failed"
    assert declared["coverage.declared[Patient.Read (Demographics) (R4)]"].outcome == "passed"
