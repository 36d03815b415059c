"""profile.us-core and contract.fields (suites/test_data_conformance.py) judged in process: they pass on the
correct sandbox for every API they apply to; a claimed profile not met fails its APIs only, an element never
filled is a Must Support or contract warning, a tenant claiming no profile is not judged against one, and an
API that answered nothing leaves the app's fields unjudged, for the test data to fix."""

from __future__ import annotations

from collections import Counter

from tests.support.checks import judge, judge_each, tenant_state

PATIENT_READ = "Patient.Read (Demographics) (R4)"


def test_every_api_meets_its_claimed_profile_and_fills_the_contract_on_the_correct_sandbox() -> None:
    with tenant_state() as state:
        profiles = judge_each(state, "profile.us-core")
        contract = judge_each(state, "contract.fields")
    outcomes = Counter(j.outcome for j in profiles.values())
    assert set(outcomes) == {"passed", "skipped"} and outcomes["passed"] >= 20, outcomes
    # a skip is only for what no claimed profile covers, and is advisory (nothing left unverified)
    assert all(("claims no US Core profile" in j.message or "falls under a claimed profile" in j.message)
               and not j.result.required for j in profiles.values() if j.outcome == "skipped")
    assert profiles[f"profile.us-core[{PATIENT_READ}]"].outcome == "passed"
    assert len(contract) > 100 and {j.outcome for j in contract.values()} == {"passed"}, \
        [j for j in contract.values() if j.outcome != "passed"][:3]
    assert contract[f"contract.fields[{PATIENT_READ}]"].result.data["contract"]


def test_a_claimed_profile_not_met_fails_that_resources_apis_only() -> None:
    with tenant_state("fhir-profile-unmet:Patient") as state:
        judged = judge_each(state, "profile.us-core", apis=[PATIENT_READ, "Patient.Search (Demographics) (R4)",
                                                            "Practitioner.Read (Organizational Directory) (R4)"])
    failed = {rid: j for rid, j in judged.items() if j.outcome == "failed"}
    assert set(failed) == {f"profile.us-core[{PATIENT_READ}]", "profile.us-core[Patient.Search (Demographics) (R4)]"}
    one = failed[f"profile.us-core[{PATIENT_READ}]"]
    assert "do not meet the profile the tenant claims" in one.message and "Patient.gender" in one.message
    assert one.result.category == "tenant-fault" and one.result.data["us_core"]["findings"]
    assert judged["profile.us-core[Practitioner.Read (Organizational Directory) (R4)]"].outcome == "passed"


def test_an_element_never_filled_is_a_must_support_and_contract_warning() -> None:
    with tenant_state("fhir-drop-element:Patient=birthDate") as state:
        profile = judge(state, "profile.us-core", api=PATIENT_READ)
        contract = judge(state, "contract.fields", api=PATIENT_READ)
    assert profile.outcome == "warning" and "Must Support" in profile.message and "Patient.birthDate" in profile.message
    assert contract.outcome == "warning" and "the app reads Patient.birthDate, never filled here" in contract.message


def test_a_tenant_claiming_no_profile_is_not_judged_against_one() -> None:
    with tenant_state("metadata-drop:R4=rest.resource.supportedProfile") as state:
        profile = judge(state, "profile.us-core", api=PATIENT_READ)
    assert profile.outcome == "skipped" and "claims no US Core profile for Patient" in profile.message
    assert not profile.result.required


def test_an_api_that_answered_nothing_leaves_the_contract_to_the_test_data() -> None:
    with tenant_state("fhir-empty:Coverage") as state:
        contract = judge(state, "contract.fields", api="Coverage.Search (Patient Insurance Information) (R4)")
    assert contract.outcome == "skipped" and "answered no Coverage" in contract.message
    assert contract.result.category == "test-data"
