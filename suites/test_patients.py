"""Patients & demographics: Patient.$match, the one operation of the group (reads and searches are generic)."""

from __future__ import annotations


from harness.catalog import Api
from harness.checks import DECLARED, TOKEN, CheckContext, CheckFailed, check, data
from harness.client import TenantClient
from harness.config import Tenant
from harness.fhir.responses import expect_fhir, outcome_codes
from suites.exercise import validate

NO_CERTAIN_MATCH = "59013"


@check("exercise.patient-match", title="Patient.$match finds the test patient from demographics",
       why="The app links its users to Epic patients with $match; a tenant without it leaves records unlinked.",
       source="Epic, Patient.$match (R4) api 10423; FHIR R4 Patient $match", source_url="https://fhir.epic.com/Specifications?api=10423",
       group="exercise", exercises=True, applies_to=lambda api: api.interaction == "$match",
       needs=(TOKEN, DECLARED, data("patient_family"), data("patient_given"), data("patient_birthdate")))
def test_patient_match(api: Api, tenant: Tenant, client: TenantClient, verdict: CheckContext) -> None:
    data = tenant.test_data
    patient = {"resourceType": "Patient", "name": [{"family": data["patient_family"], "given": [data["patient_given"]]}],
               "birthDate": data["patient_birthdate"]}
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": patient}, {"name": "onlyCertainMatches", "valueBoolean": True},
        {"name": "count", "valueInteger": 3}]}
    response = client.post(client.url(str(api.version), "Patient/$match"), json=body,
                           headers={"Content-Type": "application/fhir+json"})
    answer = expect_fhir(response, "POST Patient/$match", status=(200, 400, 422))
    if isinstance(answer, dict) and answer.get("resourceType") == "OperationOutcome":
        codes = [c for c, _ in outcome_codes(answer)]
        if NO_CERTAIN_MATCH in codes:
            verdict.warn("no certain match (Epic 59013) for the test patient's demographics: check test_data")
            return
        raise CheckFailed(f"$match refused: {outcome_codes(answer)[:2]}", category="test-data")
    if not isinstance(answer, dict) or answer.get("resourceType") != "Bundle":
        raise CheckFailed("$match did not answer a Bundle", category="tenant-fault")
    validate(answer, str(api.version), "$match Bundle")
    matches = [e for e in answer.get("entry") or [] if (e.get("search") or {}).get("mode") == "match"]
    ids = [e["resource"].get("id") for e in matches if isinstance(e.get("resource"), dict)]
    if data.get("patient") and data["patient"] not in ids:
        raise CheckFailed(f"$match did not return the test patient {data['patient']} (got {ids[:3]})",
                          category="test-data")
    scores = [(e.get("search") or {}).get("score") for e in matches]
    verdict.note(f"{len(matches)} match(es), scores {scores}")
