"""Patient/$match and the Questionnaire operations."""

from __future__ import annotations

from typing import Any

import pytest
from sandbox_helpers import TestClient, bearer, get_token, sandbox_client

from harness.fhir.validation import validator_for
from harness.sandbox.population import EPI_SYSTEM, MAIN_PATIENT, QUESTIONNAIRE_BASE

R4 = "/api/FHIR/R4"
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"


@pytest.fixture(scope="module")
def authorised() -> tuple[TestClient, dict[str, str]]:
    client = sandbox_client()
    return client, bearer(get_token(client)["access_token"])


def _match(patient: dict[str, Any], *, only_certain: Any = True, count: Any = 3) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": {"resourceType": "Patient", **patient}},
            {"name": "count", "valueInteger": count},
            {"name": "onlyCertainMatches", "valueBoolean": only_certain},
        ],
    }


def _codes(outcome: dict) -> list[str]:
    return [issue["details"]["coding"][0]["code"] for issue in outcome["issue"]]


# --- $match ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "patient",
    [
        {"name": [{"family": "Lopez", "given": ["Camila"]}], "birthDate": "1987-09-12", "gender": "female"},
        {"identifier": [{"system": EPI_SYSTEM, "value": "203700"}]},
    ],
    ids=["demographics", "identifier"],
)
def test_match_finds_a_certain_match(authorised, patient) -> None:
    client, headers = authorised
    response = client.post(f"{R4}/Patient/$match", json=_match(patient), headers=headers)
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    assert bundle["link"] == [{"relation": "self", "url": f"http://testserver{R4}/Patient/$match"}]
    (entry,) = bundle["entry"]
    assert entry["resource"]["id"] == MAIN_PATIENT
    assert entry["search"] == {
        "extension": [{"url": MATCH_GRADE, "valueCode": "certain"}],
        "mode": "match",
        "score": 1.0,
    }
    assert validator_for("R4").validate(bundle) == []


def test_match_accepts_epics_string_valued_parameters(authorised) -> None:
    client, headers = authorised
    body = _match({"name": [{"family": "Lopez", "given": ["Camila"]}], "birthDate": "1987-09-12"},
                  only_certain="true", count="1")
    response = client.post(f"{R4}/Patient/$match", json=body, headers=headers)
    assert response.status_code == 200 and response.json()["total"] == 1


def test_only_possible_matches_is_59013(authorised) -> None:
    client, headers = authorised
    body = _match({"name": [{"family": "Lopez"}], "birthDate": "1987-09-12"})
    response = client.post(f"{R4}/Patient/$match", json=body, headers=headers)
    assert response.status_code == 400
    outcome = response.json()
    assert _codes(outcome) == ["59013"]
    assert outcome["issue"][0]["severity"] == "fatal"
    assert outcome["issue"][0]["location"] == ["/f:patient"]


def test_without_only_certain_the_possible_matches_are_graded(authorised) -> None:
    client, headers = authorised
    body = _match({"name": [{"family": "Lopez"}], "birthDate": "1987-09-12"}, only_certain=False)
    bundle = client.post(f"{R4}/Patient/$match", json=body, headers=headers).json()
    assert bundle["total"] == 2
    grades = {entry["search"]["extension"][0]["valueCode"] for entry in bundle["entry"]}
    assert grades == {"possible"}
    assert all(entry["search"]["score"] < 1 for entry in bundle["entry"])


def test_no_match_is_total_0_with_4101(authorised) -> None:
    client, headers = authorised
    body = _match({"name": [{"family": "Nobody", "given": ["Nemo"]}], "birthDate": "1900-01-01"})
    bundle = client.post(f"{R4}/Patient/$match", json=body, headers=headers).json()
    assert bundle["total"] == 0
    assert _codes(bundle["entry"][0]["resource"]) == ["4101"]


def test_match_needs_a_patient_and_a_post(authorised) -> None:
    client, headers = authorised
    empty = client.post(f"{R4}/Patient/$match", json={"resourceType": "Parameters"}, headers=headers)
    assert empty.status_code == 400 and _codes(empty.json()) == ["59108"]
    wrong = client.post(f"{R4}/Patient/$match", json={"resourceType": "Patient"}, headers=headers)
    assert wrong.status_code == 400 and _codes(wrong.json()) == ["59105"]
    got = client.get(f"{R4}/Patient/$match", headers=headers)
    assert got.status_code == 405 and got.headers["allow"] == "POST"


def test_operations_are_not_on_other_versions(authorised) -> None:
    client, headers = authorised
    response = client.post("/api/FHIR/STU3/Patient/$match", json=_match({}), headers=headers)
    assert response.status_code == 501


# --- $next-question -------------------------------------------------------------------------


def _adaptive(items: list[dict[str, Any]] | None = None, contained_items: list | None = None) -> dict[str, Any]:
    questionnaire: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": "q",
        "status": "active",
        "derivedFrom": [f"{QUESTIONNAIRE_BASE}/phq-2"],
    }
    if contained_items:
        questionnaire["item"] = contained_items
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "contained": [questionnaire],
        "questionnaire": "#q",
        "status": "in-progress",
        "subject": {"reference": f"Patient/{MAIN_PATIENT}"},
    }
    if items:
        response["item"] = items
    return response


def _answer(link_id: str) -> dict[str, Any]:
    return {"linkId": link_id, "answer": [{"valueCoding": {"system": "http://loinc.org", "code": "LA6568-5"}}]}


def test_next_question_walks_the_questionnaire_to_completion(authorised) -> None:
    client, headers = authorised
    body = {"resourceType": "Parameters",
            "parameter": [{"name": "questionnaire-response", "resource": _adaptive()}]}
    first = client.post(f"{R4}/Questionnaire/$next-question", json=body, headers=headers)
    assert first.status_code == 200
    response = first.json()
    assert response["resourceType"] == "QuestionnaireResponse"
    assert response["status"] == "in-progress"
    asked = response["contained"][0]["item"]
    assert [item["linkId"] for item in asked] == ["44250-9"]
    assert validator_for("R4").validate(response) == []

    assert response["item"] == [{"linkId": "44250-9", "text": asked[0]["text"]}]

    response["item"] = [_answer("44250-9")]
    second = client.post(f"{R4}/Questionnaire/$next-question", json=response, headers=headers).json()
    assert [item["linkId"] for item in second["contained"][0]["item"]] == ["44250-9", "44255-8"]
    assert [item["linkId"] for item in second["item"]] == ["44250-9", "44255-8"]
    assert second["status"] == "in-progress"

    second["item"][1] = _answer("44255-8")
    third = client.post(f"{R4}/Questionnaire/$next-question", json=second, headers=headers).json()
    assert third["status"] == "completed"
    assert validator_for("R4").validate(third) == []


def test_next_question_by_reference_with_any_parameter_name(authorised) -> None:
    client, headers = authorised
    questionnaire = client.get(f"{R4}/Questionnaire", params={"name": "Harness GAD-2"}, headers=headers).json()
    qid = questionnaire["entry"][0]["resource"]["id"]
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse", "status": "in-progress", "item": [],
        "contained": [{"resourceType": "Questionnaire", "id": "q", "status": "active",
                       "url": f"Questionnaire/{qid}"}],
        "questionnaire": "#q",
    }
    for _ in range(5):
        body = {"resourceType": "Parameters", "parameter": [{"name": "in", "resource": response}]}
        response = client.post(f"{R4}/Questionnaire/$next-question", json=body, headers=headers).json()
        if response["status"] == "completed":
            break
        for item in response["item"]:
            item.setdefault("answer", [{"valueBoolean": False}])
    assert response["status"] == "completed"
    assert [item["linkId"] for item in response["item"]] == ["69725-0", "68509-9"]


def test_next_question_waits_for_an_unanswered_question(authorised) -> None:
    client, headers = authorised
    asked = [{"linkId": "44250-9", "text": "?", "type": "choice"}]
    response = client.post(f"{R4}/Questionnaire/$next-question", json=_adaptive(contained_items=asked),
                           headers=headers).json()
    assert [item["linkId"] for item in response["contained"][0]["item"]] == ["44250-9"]


def test_next_question_needs_a_questionnaire_it_knows(authorised) -> None:
    client, headers = authorised
    unknown = _adaptive()
    unknown["contained"][0]["derivedFrom"] = ["http://elsewhere.example/Questionnaire/x"]
    response = client.post(f"{R4}/Questionnaire/$next-question", json=unknown, headers=headers)
    assert response.status_code == 400 and response.json()["resourceType"] == "OperationOutcome"
    missing = client.post(f"{R4}/Questionnaire/$next-question", json={"resourceType": "Parameters"},
                          headers=headers)
    assert missing.status_code == 400 and _codes(missing.json()) == ["59108"]


# --- $questionnaire-package, $log-questionnaire-errors ----------------------------------------


def test_questionnaire_package_by_canonical(authorised) -> None:
    client, headers = authorised
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "coverage", "resource": {"resourceType": "Coverage", "status": "active",
                                              "beneficiary": {"reference": f"Patient/{MAIN_PATIENT}"},
                                              "payor": [{"display": "Payer"}]}},
            {"name": "questionnaire", "valueCanonical": f"{QUESTIONNAIRE_BASE}/imaging-prior-auth"},
            {"name": "questionnaire", "valueCanonical": "http://elsewhere.example/Questionnaire/none"},
        ],
    }
    response = client.post(f"{R4}/Questionnaire/$questionnaire-package", json=body, headers=headers)
    assert response.status_code == 200
    parameters = response.json()
    assert parameters["resourceType"] == "Parameters"
    (package,) = [p["resource"] for p in parameters["parameter"] if p["name"] == "packagebundle"]
    assert package["type"] == "collection"
    questionnaire, draft = (entry["resource"] for entry in package["entry"])
    assert questionnaire["url"] == f"{QUESTIONNAIRE_BASE}/imaging-prior-auth"
    assert draft["resourceType"] == "QuestionnaireResponse"
    assert draft["subject"] == {"reference": f"Patient/{MAIN_PATIENT}"}
    (outcome,) = [p["resource"] for p in parameters["parameter"] if p["name"] == "outcome"]
    assert outcome["issue"][0]["severity"] == "warning"
    assert validator_for("R4").validate(parameters) == []


def test_questionnaire_package_without_names_packages_every_active_one(authorised) -> None:
    client, headers = authorised
    response = client.post(f"{R4}/Questionnaire/$questionnaire-package", json={"resourceType": "Parameters"},
                           headers=headers)
    packages = [p for p in response.json()["parameter"] if p["name"] == "packagebundle"]
    assert len(packages) == 4


def test_log_questionnaire_errors(authorised) -> None:
    client, headers = authorised
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "Questionnaire", "valueCanonical": f"{QUESTIONNAIRE_BASE}/phq-2|1"},
            {"name": "errors", "resource": {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "processing", "diagnostics": "CQL failed"}]}},
        ],
    }
    response = client.post(f"{R4}/Questionnaire/$log-questionnaire-errors", json=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["issue"][0]["severity"] == "information"
    incomplete = client.post(f"{R4}/Questionnaire/$log-questionnaire-errors",
                             json={"resourceType": "Parameters", "parameter": body["parameter"][:1]},
                             headers=headers)
    assert incomplete.status_code == 400
