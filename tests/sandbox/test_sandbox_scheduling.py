"""Appointment $find and $book (STU3)."""

from __future__ import annotations

from typing import Any

import pytest
from sandbox_helpers import TestClient, bearer, get_token, sandbox_client

from harness.fhir.validation import validator_for
from harness.sandbox.population import MAIN_LOCATION, MAIN_PATIENT, MAIN_SLOT, VISIT_TYPE_SYSTEM

STU3 = "/api/FHIR/STU3"
FREE_SLOTS = 11  # free slots of the three schedules, 11 to 13 May 2026


@pytest.fixture
def authorised() -> tuple[TestClient, dict[str, str]]:
    client = sandbox_client()
    return client, bearer(get_token(client)["access_token"])


def _find(*extra: dict[str, Any], start: str = "2026-05-11T00:00:00Z", end: str = "2026-05-13T23:59:59Z"):
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "patient", "resource": {"resourceType": "Patient", "identifier": [{"value": MAIN_PATIENT}]}},
            {"name": "startTime", "valueDateTime": start},
            {"name": "endTime", "valueDateTime": end},
            *extra,
        ],
    }


def _book(appointment_id: str, patient: str = MAIN_PATIENT) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "patient", "valueIdentifier": {"value": patient}},
            {"name": "appointment", "valueIdentifier": {"value": appointment_id}},
            {"name": "appointmentNote", "valueString": "Booked by a test."},
        ],
    }


def _codes(outcome: dict) -> list[str]:
    return [issue["details"]["coding"][0]["code"] for issue in outcome["issue"]]


def _proposed(bundle: dict) -> list[dict]:
    return [entry["resource"] for entry in bundle["entry"] if entry["search"]["mode"] == "match"]


def test_find_proposes_the_free_slots(authorised) -> None:
    client, headers = authorised
    response = client.post(f"{STU3}/Appointment/$find", json=_find(), headers=headers)
    assert response.status_code == 200
    bundle = response.json()
    proposed = _proposed(bundle)
    assert bundle["total"] == len(proposed) == FREE_SLOTS
    for appointment in proposed:
        assert appointment["status"] == "proposed"
        (slot,) = appointment["contained"]
        assert slot["resourceType"] == "Slot" and slot["status"] == "free"
        assert appointment["slot"] == [{"reference": f"#{slot['id']}"}]
        assert appointment["participant"][0]["actor"]["reference"] == (
            f"http://testserver{STU3}/Patient/{MAIN_PATIENT}"
        )
        assert all(p["actor"]["reference"].startswith(f"http://testserver{STU3}/")
                   for p in appointment["participant"])
    assert MAIN_SLOT in {a["contained"][0]["id"] for a in proposed}
    assert validator_for("STU3").validate(bundle) == []
    again = _proposed(client.post(f"{STU3}/Appointment/$find", json=_find(), headers=headers).json())
    assert {a["id"] for a in again}.isdisjoint({a["id"] for a in proposed})
    assert {a["contained"][0]["id"] for a in again} == {a["contained"][0]["id"] for a in proposed}


def test_find_narrows_by_time_and_location(authorised) -> None:
    client, headers = authorised
    one_day = _proposed(client.post(f"{STU3}/Appointment/$find",
                                    json=_find(start="2026-05-11", end="2026-05-11"), headers=headers).json())
    assert one_day and all(a["start"].startswith("2026-05-11") for a in one_day)
    location = {"name": "location-reference",
                "valueReference": {"reference": f"https://elsewhere.example/api/FHIR/STU3/Location/{MAIN_LOCATION}"}}
    at_clinic = _proposed(client.post(f"{STU3}/Appointment/$find", json=_find(location), headers=headers).json())
    assert at_clinic and all(
        any(p["actor"]["reference"].endswith(f"/Location/{MAIN_LOCATION}") for p in a["participant"])
        for a in at_clinic
    )
    assert len(at_clinic) < FREE_SLOTS


def test_find_with_an_unknown_visit_type_is_59200(authorised) -> None:
    client, headers = authorised
    unknown = {"name": "serviceType", "valueCodeableConcept": {
        "coding": [{"system": "urn:oid:1.2.840.114350.1.13.861.1.7.3.808267.11", "code": "99999"}]}}
    bundle = client.post(f"{STU3}/Appointment/$find", json=_find(unknown), headers=headers).json()
    assert bundle["total"] == 0
    assert _codes(bundle["entry"][0]["resource"]) == ["59200", "4101"]
    known = {"name": "serviceType", "valueCodeableConcept": {"coding": [{"system": VISIT_TYPE_SYSTEM, "code": "1004"}]}}
    assert client.post(f"{STU3}/Appointment/$find", json=_find(known), headers=headers).json()["total"] == FREE_SLOTS


def test_find_with_the_argonaut_spelling_adds_59109(authorised) -> None:
    client, headers = authorised
    hyphen = {"name": "service-type", "valueCodeableConcept": {"text": "Office Visit"}}
    bundle = client.post(f"{STU3}/Appointment/$find", json=_find(hyphen), headers=headers).json()
    assert bundle["total"] == FREE_SLOTS
    assert bundle["entry"][-1]["search"] == {"mode": "outcome"}
    assert _codes(bundle["entry"][-1]["resource"]) == ["59109"]


def test_find_with_no_free_slot_is_4101(authorised) -> None:
    client, headers = authorised
    bundle = client.post(f"{STU3}/Appointment/$find", json=_find(start="2027-01-01", end="2027-01-31"),
                         headers=headers).json()
    assert bundle["total"] == 0 and _codes(bundle["entry"][0]["resource"]) == ["4101"]


def test_book_a_proposal(authorised) -> None:
    client, headers = authorised
    proposed = _proposed(client.post(f"{STU3}/Appointment/$find", json=_find(), headers=headers).json())
    choice = next(a for a in proposed if a["contained"][0]["id"] == MAIN_SLOT)
    response = client.post(f"{STU3}/Appointment/$book", json=_book(choice["id"]), headers=headers)
    assert response.status_code == 200, response.text
    (entry,) = response.json()["entry"]
    booked = entry["resource"]
    assert booked["status"] == "booked" and booked["comment"] == "Booked by a test."
    assert booked["slot"] == [{"reference": f"http://testserver{STU3}/Slot/{MAIN_SLOT}"}]
    assert validator_for("STU3").validate(booked) == []
    assert client.get(f"{STU3}/Appointment/{booked['id']}", headers=headers).json()["status"] == "booked"
    assert client.get(f"{STU3}/Slot/{MAIN_SLOT}", headers=headers).json()["status"] == "busy"
    mine = client.get(f"{STU3}/Appointment", params={"patient": MAIN_PATIENT}, headers=headers).json()
    assert booked["id"] in {e["resource"]["id"] for e in mine["entry"]}
    again = _proposed(client.post(f"{STU3}/Appointment/$find", json=_find(), headers=headers).json())
    assert MAIN_SLOT not in {a["contained"][0]["id"] for a in again}
    twice = client.post(f"{STU3}/Appointment/$book", json=_book(choice["id"]), headers=headers)
    assert twice.status_code == 400 and _codes(twice.json()) == ["59144"]


def test_book_refuses_unknown_ids(authorised) -> None:
    client, headers = authorised
    response = client.post(f"{STU3}/Appointment/$book", json=_book("eNotAProposal000000000003"), headers=headers)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert _codes(response.json()) == ["59144"]
    assert (issue["diagnostics"], issue["location"]) == ("invalid appointment ID", ["/f:appointment"])
    proposed = _proposed(client.post(f"{STU3}/Appointment/$find", json=_find(), headers=headers).json())
    wrong_patient = client.post(f"{STU3}/Appointment/$book", json=_book(proposed[0]["id"], "eNobody0000000003"),
                                headers=headers)
    assert wrong_patient.status_code == 400 and wrong_patient.json()["issue"][0]["location"] == ["/f:patient"]


def test_scheduling_operations_are_stu3_only(authorised) -> None:
    client, headers = authorised
    assert client.post("/api/FHIR/R4/Appointment/$find", json=_find(), headers=headers).status_code == 501


def test_only_recent_proposals_are_kept() -> None:
    from harness.sandbox.operations.scheduling import Proposals

    proposals = Proposals(capacity=2)
    for number in range(3):
        proposals.add({"id": f"a{number}"}, f"slot{number}")
    assert proposals.take("a0") is None
    assert proposals.take("a2") == ({"id": "a2"}, "slot2")


def _practitioners(appointment: dict) -> set[str]:
    return {p["actor"]["reference"].rsplit("/", 1)[-1] for p in appointment["participant"]
            if "/Practitioner/" in p["actor"]["reference"]}


def test_a_named_provider_narrows_find_to_that_providers_slots(authorised) -> None:
    from harness.sandbox.population import MAIN_PRACTITIONER

    client, headers = authorised
    named = {"name": "practitioner", "valueReference": {"reference": f"Practitioner/{MAIN_PRACTITIONER}"}}
    proposed = _proposed(client.post(f"{STU3}/Appointment/$find", json=_find(named), headers=headers).json())
    assert proposed and all(_practitioners(a) == {MAIN_PRACTITIONER} for a in proposed)


def test_provider_ignored_answers_other_providers_slots() -> None:
    from harness.sandbox.population import MAIN_PRACTITIONER

    client = sandbox_client(["sds-provider-ignored"])
    headers = bearer(get_token(client)["access_token"])
    named = {"name": "practitioner", "valueReference": {"reference": f"Practitioner/{MAIN_PRACTITIONER}"}}
    bundle = client.post(f"{STU3}/Appointment/$find", json=_find(named), headers=headers).json()
    proposed = _proposed(bundle)
    assert len(proposed) == FREE_SLOTS
    others = [a for a in proposed if MAIN_PRACTITIONER not in _practitioners(a)]
    assert others, "every proposal is the named provider's"
    assert all(entry["search"]["mode"] == "match" for entry in bundle["entry"])  # no outcome: it looks fine
