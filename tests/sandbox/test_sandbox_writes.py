"""Creates and updates, and the scopes every interaction needs."""

from __future__ import annotations

import pytest
from sandbox_helpers import TestClient, bearer, get_token, sandbox_client

from harness.fhir.validation import validator_for
from harness.sandbox.fhir.service import INSUFFICIENT_SCOPE
from harness.sandbox.population import MAIN_PATIENT, MAIN_PRACTITIONER

R4 = "/api/FHIR/R4"
NEW_PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"use": "official", "system": "urn:oid:2.16.840.1.113883.4.1", "value": "000-00-0000"}],
    "name": [{"use": "official", "family": "Testwright", "given": ["Ada"]}],
    "gender": "female",
    "birthDate": "1990-01-01",
}


@pytest.fixture
def authorised() -> tuple[TestClient, dict[str, str]]:
    client = sandbox_client()
    return client, bearer(get_token(client)["access_token"])


def _code(response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


@pytest.mark.parametrize("version", ["R4", "STU3"])
def test_create_then_read_back(authorised, version) -> None:
    client, headers = authorised
    created = client.post(f"/api/FHIR/{version}/Patient", json=NEW_PATIENT, headers=headers)
    assert created.status_code == 201
    body = created.json()
    assert body["resourceType"] == "Patient" and body["id"].startswith("e") and body["id"].endswith("3")
    assert created.headers["location"] == f"http://testserver/api/FHIR/{version}/Patient/{body['id']}"
    assert [label["code"] for label in body["meta"]["security"]] == ["PATRPT", "UNCERTREL"]
    assert validator_for(version).validate(body) == []
    read = client.get(created.headers["location"], headers=headers)
    assert read.status_code == 200
    assert read.json() == body
    found = client.get(f"/api/FHIR/{version}/Patient", params={"family": "Testwright"}, headers=headers).json()
    assert [entry["resource"]["id"] for entry in found["entry"]] == [body["id"]]


def test_created_resources_stay_in_their_sandbox(authorised) -> None:
    client, headers = authorised
    created = client.post(f"{R4}/Patient", json=NEW_PATIENT, headers=headers).json()
    other = sandbox_client()
    other_headers = bearer(get_token(other)["access_token"])
    assert other.get(f"{R4}/Patient/{created['id']}", headers=other_headers).status_code == 404


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "DocumentReference", "status": "current",
         "subject": {"reference": f"Patient/{MAIN_PATIENT}"},
         "content": [{"attachment": {"contentType": "text/plain", "data": "SGVsbG8="}}]},
        {"resourceType": "QuestionnaireResponse", "status": "completed",
         "subject": {"reference": f"Patient/{MAIN_PATIENT}"}},
        {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
         "subject": {"reference": f"Patient/{MAIN_PATIENT}"}},
        {"resourceType": "Communication", "status": "completed",
         "subject": {"reference": f"Patient/{MAIN_PATIENT}"}},
    ],
    ids=lambda resource: resource["resourceType"],
)
def test_create_every_writable_api(authorised, resource) -> None:
    client, headers = authorised
    created = client.post(f"{R4}/{resource['resourceType']}", json=resource, headers=headers)
    assert created.status_code == 201, created.text
    read = client.get(created.headers["location"], headers=headers)
    assert read.json()["resourceType"] == resource["resourceType"]


def test_create_refuses_what_is_not_the_resource(authorised) -> None:
    client, headers = authorised
    not_json = client.post(f"{R4}/Patient", content=b"<Patient/>", headers=headers)
    assert not_json.status_code == 400 and _code(not_json) == "59105"
    wrong_type = client.post(f"{R4}/Patient", json={"resourceType": "Practitioner"}, headers=headers)
    assert wrong_type.status_code == 400 and _code(wrong_type) == "59105"


def test_update_then_read_back(authorised) -> None:
    client, headers = authorised
    found = client.get(f"{R4}/ServiceRequest", params={"patient": MAIN_PATIENT}, headers=headers).json()
    request = found["entry"][0]["resource"]
    request["status"] = "on-hold"
    updated = client.put(f"{R4}/ServiceRequest/{request['id']}", json=request, headers=headers)
    assert updated.status_code == 200
    assert updated.json()["status"] == "on-hold"
    assert client.get(f"{R4}/ServiceRequest/{request['id']}", headers=headers).json()["status"] == "on-hold"
    again = client.get(f"{R4}/ServiceRequest", params={"patient": MAIN_PATIENT}, headers=headers).json()
    assert again["entry"][0]["resource"]["status"] == "on-hold"
    assert again["total"] == found["total"]


def test_update_needs_the_id_of_the_url_and_a_known_resource(authorised) -> None:
    client, headers = authorised
    task = client.get(f"{R4}/Task", params={"patient": MAIN_PATIENT}, headers=headers).json()["entry"][0]["resource"]
    mismatched = client.put(f"{R4}/Task/{task['id']}", json={**task, "id": "eOther000000000000000003"},
                            headers=headers)
    assert mismatched.status_code == 400
    unknown = client.put(f"{R4}/Task/eNope0000000000000000003", json={**task, "id": "eNope0000000000000000003"},
                         headers=headers)
    assert unknown.status_code == 404 and _code(unknown) == "59008"


# --- scopes ---------------------------------------------------------------------------------


def _assert_403(response) -> None:
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == INSUFFICIENT_SCOPE
    assert response.content == b""


def test_a_token_without_a_resources_scopes_gets_403_on_it_only() -> None:
    client = sandbox_client(["grant-fewer-scopes:Encounter"])
    token = get_token(client)
    assert "Encounter" not in token["scope"]
    headers = bearer(token["access_token"])
    encounters = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT}, headers=headers)
    _assert_403(encounters)
    _assert_403(client.get(f"{R4}/Encounter/eAny00000000000000000003", headers=headers))
    _assert_403(client.get(f"/api/FHIR/STU3/Encounter?patient={MAIN_PATIENT}", headers=headers))
    _assert_403(client.post(f"{R4}/Encounter/_search", data={"patient": MAIN_PATIENT}, headers=headers))
    assert client.get(f"{R4}/Patient/{MAIN_PATIENT}", headers=headers).status_code == 200


def test_each_interaction_needs_its_letter() -> None:
    client = sandbox_client(["token-scope-grant:requested"])
    headers = bearer(get_token(client, scope="system/Patient.r system/Task.rs")["access_token"])
    assert client.get(f"{R4}/Patient/{MAIN_PATIENT}", headers=headers).status_code == 200
    _assert_403(client.get(f"{R4}/Patient", params={"_id": MAIN_PATIENT}, headers=headers))
    _assert_403(client.post(f"{R4}/Patient", json=NEW_PATIENT, headers=headers))
    task = client.get(f"{R4}/Task", params={"patient": MAIN_PATIENT}, headers=headers).json()["entry"][0]["resource"]
    _assert_403(client.put(f"{R4}/Task/{task['id']}", json=task, headers=headers))
    _assert_403(client.get(f"{R4}/Practitioner/{MAIN_PRACTITIONER}", headers=headers))


def test_next_pages_need_the_search_scope_too() -> None:
    client = sandbox_client(["token-scope-grant:requested"])
    full = bearer(get_token(client)["access_token"])
    first = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT, "_count": "10"}, headers=full).json()
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    read_only = bearer(get_token(client, scope="system/Encounter.r")["access_token"])
    _assert_403(client.get(next_url, headers=read_only))
    assert client.get(next_url, headers=full).status_code == 200
