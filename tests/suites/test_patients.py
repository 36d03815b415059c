"""Patient.$match (suites/test_patients.py) judged in process: the test patient found on the correct sandbox;
a 500 is the tenant's fault, demographics without a certain match a warning about the test data, and a match
that is not the test patient a test-data failure."""

from __future__ import annotations

from tests.support.checks import judge, sandbox_tenant, tenant_state

MATCH = "Patient.$match (Patient Match) (R4)"


def test_match_finds_the_test_patient_on_the_correct_sandbox() -> None:
    with tenant_state() as state:
        judged = judge(state, "exercise.patient-match", api=MATCH)
    assert judged.outcome == "passed" and judged.result.notes[0].startswith("1 match(es)"), judged.result.notes


def test_a_500_fails_the_match_as_the_tenants_fault() -> None:
    waits: list[float] = []
    with tenant_state("fhir-status:Patient=500", sleep=waits.append) as state:
        judged = judge(state, "exercise.patient-match", api=MATCH)
    assert judged.outcome == "failed" and "HTTP 500" in judged.message and judged.result.category == "tenant-fault"


def test_demographics_without_a_certain_match_are_a_warning() -> None:
    with tenant_state(tenant=sandbox_tenant(test_data={"patient_family": "Nobody"})) as state:
        judged = judge(state, "exercise.patient-match", api=MATCH)
    assert judged.outcome == "warning" and "59013" in judged.message


def test_a_match_that_is_not_the_test_patient_is_a_test_data_failure() -> None:
    with tenant_state(tenant=sandbox_tenant(test_data={"patient": "eSomeoneElse0000000000003"})) as state:
        judged = judge(state, "exercise.patient-match", api=MATCH)
    assert judged.outcome == "failed" and "did not return the test patient" in judged.message
    assert judged.result.category == "test-data"


def test_without_the_demographics_nothing_is_sent() -> None:
    with tenant_state(tenant=sandbox_tenant(test_data={"patient_birthdate": None})) as state:
        judged = judge(state, "exercise.patient-match", api=MATCH)
        sent = [e.url for e in state.client.log if "$match" in e.url]
    assert judged.outcome == "skipped" and "test_data.patient_birthdate" in judged.message and sent == []
