"""Reads and searches of the populated sandbox: Epic's Bundle shape, paging, sessions, parameters."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from sandbox_helpers import TestClient, bearer, get_token, sandbox_client

from harness.sandbox.population import (
    MAIN_LOCATION,
    MAIN_ORGANIZATION,
    MAIN_PATIENT,
    MAIN_PRACTITIONER,
    MAIN_PRACTITIONER_NPI,
)

EPIC_SYSTEM = "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369"
R4 = "/api/FHIR/R4"
SESSION_LINK = re.compile(r"^http://testserver/api/FHIR/R4/Encounter\?sessionID=\d+-[0-9A-F]{32}$")


@pytest.fixture
def authorised() -> tuple[TestClient, dict[str, str]]:
    client = sandbox_client()
    return client, bearer(get_token(client)["access_token"])


def _codes(outcome: dict) -> list[str]:
    return [issue["details"]["coding"][0]["code"] for issue in outcome["issue"]]


def _links(bundle: dict) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle["link"]}


def _matches(bundle: dict) -> list[dict]:
    return [entry["resource"] for entry in bundle["entry"] if entry["search"]["mode"] == "match"]


# --- read -----------------------------------------------------------------------------------


def test_read_answers_the_resource(authorised) -> None:
    client, headers = authorised
    response = client.get(f"{R4}/Patient/{MAIN_PATIENT}", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/fhir+json; charset=utf-8"
    patient = response.json()
    assert (patient["resourceType"], patient["id"]) == ("Patient", MAIN_PATIENT)
    assert patient["generalPractitioner"][0]["reference"] == f"Practitioner/{MAIN_PRACTITIONER}"


def test_read_in_xml_when_no_json_is_asked_for(authorised) -> None:
    client, headers = authorised
    response = client.get(f"{R4}/Location/{MAIN_LOCATION}", headers={**headers, "accept": "application/fhir+xml"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/fhir+xml; charset=utf-8"
    assert '<Location xmlns="http://hl7.org/fhir">' in response.text


def test_read_of_an_unknown_id_is_59008(authorised) -> None:
    client, headers = authorised
    response = client.get(f"{R4}/Encounter/eDoesNotExist0000000003", headers=headers)
    assert response.status_code == 404
    assert _codes(response.json()) == ["59008"]


def test_stu3_and_dstu2_references_are_absolute(authorised) -> None:
    client, headers = authorised
    stu3 = client.get(f"/api/FHIR/STU3/Patient/{MAIN_PATIENT}", headers=headers).json()
    assert stu3["generalPractitioner"][0]["reference"] == (
        f"http://testserver/api/FHIR/STU3/Practitioner/{MAIN_PRACTITIONER}"
    )
    dstu2 = client.get(f"/api/FHIR/DSTU2/Patient/{MAIN_PATIENT}", headers=headers).json()
    assert dstu2["careProvider"][0]["reference"] == (
        f"http://testserver/api/FHIR/DSTU2/Practitioner/{MAIN_PRACTITIONER}"
    )
    assert dstu2["name"][0]["family"] == ["Lopez"]
    r4 = client.get(f"{R4}/Location/{MAIN_LOCATION}", headers=headers).json()
    assert r4["managingOrganization"]["reference"] == f"Organization/{MAIN_ORGANIZATION}"


def test_urls_in_resources_follow_the_request_root(authorised) -> None:
    client, headers = authorised
    endpoint = client.get(f"{R4}/Endpoint/eHarnessEndpoint0000000003", headers=headers).json()
    assert endpoint["address"] == "http://testserver/api/FHIR/R4"


def test_types_a_version_does_not_serve_have_no_data(authorised) -> None:
    client, headers = authorised
    assert client.get(f"/api/FHIR/DSTU2/Condition?patient={MAIN_PATIENT}", headers=headers).json()["total"] == 0
    assert client.get("/api/FHIR/R4/Schedule/eHarnessSchedule000000003", headers=headers).status_code == 404


# --- search ---------------------------------------------------------------------------------


def test_search_is_shaped_like_epics(authorised) -> None:
    client, headers = authorised
    response = client.get(f"{R4}/Flag", params={"patient": MAIN_PATIENT, "category": "infection"}, headers=headers)
    assert response.status_code == 200
    bundle = response.json()
    assert (bundle["resourceType"], bundle["type"], bundle["total"]) == ("Bundle", "searchset", 1)
    assert bundle["link"] == [
        {"relation": "self", "url": f"http://testserver{R4}/Flag?category=infection&patient={MAIN_PATIENT}"}
    ]
    (entry,) = bundle["entry"]
    assert entry["search"] == {"mode": "match"}
    assert entry["fullUrl"] == f"http://testserver{R4}/Flag/{entry['resource']['id']}"
    assert entry["link"] == [{"relation": "self", "url": entry["fullUrl"]}]
    assert entry["resource"]["category"][0]["coding"][0]["code"] == "infection"


def test_self_link_sorts_names_as_epic_does(authorised) -> None:
    client, headers = authorised
    bundle = client.get(f"{R4}/Encounter", params={"_count": "5", "patient": MAIN_PATIENT}, headers=headers).json()
    assert _links(bundle)["self"] == f"http://testserver{R4}/Encounter?patient={MAIN_PATIENT}&_count=5"


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("Practitioner", {"identifier": f"http://hl7.org/fhir/sid/us-npi|{MAIN_PRACTITIONER_NPI}"}, 1),
        ("Practitioner", {"identifier": MAIN_PRACTITIONER_NPI}, 1),
        ("Practitioner", {"family": "physician"}, 2),
        ("Practitioner", {"family:exact": "physician"}, 0),
        ("Practitioner", {"name": "Family Medicine"}, 1),
        ("PractitionerRole", {"practitioner": MAIN_PRACTITIONER}, 2),
        ("PractitionerRole", {"practitioner": f"Practitioner/{MAIN_PRACTITIONER}"}, 2),
        ("Location", {"name": "Harness Family"}, 1),
        ("Organization", {"name": "Harness Health System"}, 1),
        ("Patient", {"family": "Lopez", "birthdate": "1987-09-12"}, 2),
        ("Patient", {"family": "Lopez", "given": "Camila"}, 1),
        ("Patient", {"_id": f"{MAIN_PATIENT},eNope000000000000000003"}, 1),
        ("Patient", {"birthdate": "ge2010-01-01"}, 1),
        ("List", {"patient": MAIN_PATIENT, "code": "allergies"}, 1),
        ("List", {"code": "patient-list", "identifier": "urn:oid:1.2.840.114350.1.13.0.1.7.2.806567|1001"}, 1),
        ("Appointment", {"patient": MAIN_PATIENT, "service-category": "surgery"}, 1),
        ("Appointment", {"patient": MAIN_PATIENT, "service-category": "appointment"}, 3),
        ("Communication", {"subject": f"Patient/{MAIN_PATIENT}"}, 3),
        ("Communication", {"category": "crm"}, 3),
        ("Condition", {"patient": MAIN_PATIENT, "category": "reason-for-visit"}, 5),
        ("Encounter", {"patient": MAIN_PATIENT, "date": "ge2026-01-01"}, 5),
        ("Encounter", {"patient": MAIN_PATIENT, "status": "planned"}, 1),
        ("Coverage", {"patient": MAIN_PATIENT}, 2),
        ("Questionnaire", {"name": "Harness PHQ-2"}, 1),
        ("QuestionnaireResponse", {"patient": MAIN_PATIENT}, 4),
        ("ServiceRequest", {"patient": MAIN_PATIENT}, 9),
        ("Task", {"patient": MAIN_PATIENT}, 2),
        ("RelatedPerson", {"patient": MAIN_PATIENT}, 2),
        ("EpisodeOfCare", {"patient": MAIN_PATIENT}, 2),
    ],
)
def test_search_parameters_filter(authorised, path, params, expected) -> None:
    client, headers = authorised
    response = client.get(f"{R4}/{path}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["total"] == expected == len(_matches(bundle))
    assert {resource["resourceType"] for resource in _matches(bundle)} <= {path}


def test_post_search_answers_like_get(authorised) -> None:
    client, headers = authorised
    got = client.get(f"{R4}/Coverage", params={"patient": MAIN_PATIENT}, headers=headers).json()
    posted = client.post(f"{R4}/Coverage/_search?patient=ignored", data={"patient": MAIN_PATIENT}, headers=headers)
    assert posted.status_code == 200
    assert [e["fullUrl"] for e in posted.json()["entry"]] == [e["fullUrl"] for e in got["entry"]]
    assert _links(posted.json())["self"] == _links(got)["self"]


def test_a_search_matching_nothing_has_total_0_and_the_4101_outcome(authorised) -> None:
    client, headers = authorised
    bundle = client.get(f"{R4}/Flag", params={"patient": "eNobody00000000000000003"}, headers=headers).json()
    assert bundle["total"] == 0
    (entry,) = bundle["entry"]
    assert entry["search"] == {"mode": "outcome"}
    assert _codes(entry["resource"]) == ["4101"]


def test_unknown_parameters_are_ignored_on_most_resources(authorised) -> None:
    client, headers = authorised
    plain = client.get(f"{R4}/Coverage", params={"patient": MAIN_PATIENT}, headers=headers).json()
    odd = client.get(f"{R4}/Coverage", params={"patient": MAIN_PATIENT, "bogus-param": "x"}, headers=headers)
    assert odd.status_code == 200
    assert odd.json()["total"] == plain["total"]
    assert "bogus-param=x" in _links(odd.json())["self"]


@pytest.mark.parametrize(
    "path",
    ["Patient?family=Lopez&totally-bogus-param=foo", f"Observation?patient={MAIN_PATIENT}&zzzzzz=1"],
)
def test_unknown_parameters_are_400_59100_on_patient_and_observation(authorised, path) -> None:
    client, headers = authorised
    response = client.get(f"{R4}/{path}", headers=headers)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert _codes(response.json()) == ["59100"]
    assert issue["severity"] == "information"
    assert issue["diagnostics"].startswith("Unknown parameter: ") and issue["diagnostics"].endswith(
        ". Parameter has been ignored."
    )


@pytest.mark.parametrize("name", ["partner-name", "phonetic", "death-date", "language"])
def test_parameters_the_capability_statement_lists_are_never_unknown(authorised, name) -> None:
    client, headers = authorised
    response = client.get(f"{R4}/Patient", params={"_id": MAIN_PATIENT, name: "1999"}, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("value", ["2026-13-45", "06/03/1973", "yesterday", "2026-02-30T25:61:00Z", "ge",
                                   "99999-01-01", "' OR '1'='1"])
def test_a_date_that_is_no_date_is_400_4100(authorised, value) -> None:
    client, headers = authorised
    for path in ("Patient", "Encounter"):
        params = {"_id" if path == "Patient" else "patient": MAIN_PATIENT,
                  "birthdate" if path == "Patient" else "date": value}
        response = client.get(f"{R4}/{path}", params=params, headers=headers)
        assert response.status_code == 400
        assert _codes(response.json()) == ["4100"]


@pytest.mark.parametrize("value", ["1987", "1987-09", "1987-09-12", "ge1987-01-01", "1987-09-12T10:30:00+02:00",
                                   "le2030-06-15T10:30:00Z"])
def test_every_form_of_date_is_accepted(authorised, value) -> None:
    client, headers = authorised
    response = client.get(f"{R4}/Patient", params={"family": "Lopez", "birthdate": value}, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("query", ["", "?gender=female", "?_count=5", "?totally-bogus-param=foo"])
def test_patient_search_needs_demographics_or_id(authorised, query) -> None:
    client, headers = authorised
    response = client.get(f"{R4}/Patient{query}", headers=headers)
    assert response.status_code == 400
    assert _codes(response.json())[-1] == "59159"
    assert response.json()["issue"][-1]["diagnostics"] == (
        "This resource requires demographics or _id parameter for searching."
    )


def test_dstu2_outcomes_carry_no_expression(authorised) -> None:
    client, headers = authorised
    response = client.get("/api/FHIR/DSTU2/Patient?gender=male", headers=headers)
    assert response.status_code == 400
    assert all("expression" not in issue for issue in response.json()["issue"])
    missing = client.get("/api/FHIR/DSTU2/Patient/eNope0000000000000000003", headers=headers).json()
    assert all("expression" not in issue for issue in missing["issue"])


def test_summary_count_gives_the_true_total_without_entries(authorised) -> None:
    client, headers = authorised
    bundle = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT, "_summary": "count"},
                        headers=headers).json()
    assert bundle["total"] == 26 and "entry" not in bundle


# --- paging ---------------------------------------------------------------------------------


def _pages(client: TestClient, headers: dict[str, str], params: dict[str, str]) -> list[dict]:
    pages = [client.get(f"{R4}/Encounter", params=params, headers=headers).json()]
    while "next" in _links(pages[-1]):
        response = client.get(_links(pages[-1])["next"], headers=headers)
        assert response.status_code == 200
        pages.append(response.json())
        assert len(pages) < 10
    return pages


def test_count_pages_through_opaque_session_links(authorised) -> None:
    client, headers = authorised
    pages = _pages(client, headers, {"patient": MAIN_PATIENT, "_count": "10"})
    assert [len(page["entry"]) for page in pages] == [10, 10, 6]
    assert [page["total"] for page in pages] == [10, 10, 6]  # entries on the page, Epic's quirk
    ids = [entry["resource"]["id"] for page in pages for entry in page["entry"]]
    assert len(ids) == len(set(ids)) == 26
    for page in pages[:-1]:
        links = _links(page)
        assert [link["relation"] for link in page["link"]] == ["next", "self"]
        assert SESSION_LINK.match(links["next"]), links["next"]
        assert dict(parse_qsl(urlsplit(links["next"]).query)).keys() == {"sessionID"}
    assert _links(pages[1])["self"] == _links(pages[0])["next"]
    assert "next" not in _links(pages[-1])


def test_without_count_one_page_holds_up_to_a_thousand(authorised) -> None:
    client, headers = authorised
    pages = _pages(client, headers, {"patient": MAIN_PATIENT})
    assert len(pages) == 1 and pages[0]["total"] == 26


def test_practitioners_page_too(authorised) -> None:
    client, headers = authorised
    first = client.get(f"{R4}/Practitioner", params={"_count": "10", "active": "true"}, headers=headers).json()
    assert first["total"] == 10 and "next" in _links(first)


def test_an_unknown_session_is_4113(authorised) -> None:
    client, headers = authorised
    response = client.get(f"{R4}/Encounter?sessionID=16-00000000000000000000000000000000", headers=headers)
    assert response.status_code == 404
    assert _codes(response.json()) == ["4113"]


def test_a_session_of_another_type_is_4113(authorised) -> None:
    client, headers = authorised
    first = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT, "_count": "10"}, headers=headers).json()
    token = _links(first)["next"].split("sessionID=")[1]
    response = client.get(f"{R4}/Appointment?sessionID={token}", headers=headers)
    assert response.status_code == 404 and _codes(response.json()) == ["4113"]


def test_sessions_expire(authorised) -> None:
    client, headers = authorised
    first = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT, "_count": "10"}, headers=headers).json()
    sessions = client.app.state.sandbox.fhir.sessions
    assert client.get(_links(first)["next"], headers=headers).status_code == 200
    sessions.clock = lambda: time.time() + sessions.lifetime + 1
    response = client.get(_links(first)["next"], headers=headers)
    assert response.status_code == 404
    assert _codes(response.json()) == ["4113"]
    assert len(sessions) == 0


def test_the_oldest_sessions_are_dropped_beyond_capacity(authorised) -> None:
    client, headers = authorised
    sessions = client.app.state.sandbox.fhir.sessions
    sessions.capacity = 2
    links = []
    for _ in range(3):
        bundle = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT, "_count": "10"},
                            headers=headers).json()
        links.append(_links(bundle)["next"])
    assert client.get(links[0], headers=headers).status_code == 404
    assert client.get(links[2], headers=headers).status_code == 200


def test_post_search_pages_with_get_links(authorised) -> None:
    client, headers = authorised
    first = client.post(f"{R4}/Encounter/_search", data={"patient": MAIN_PATIENT, "_count": "20"}, headers=headers)
    assert first.json()["total"] == 20
    second = client.get(_links(first.json())["next"], headers=headers).json()
    assert second["total"] == 6


def test_paging_in_stu3(authorised) -> None:
    client, headers = authorised
    first = client.get("/api/FHIR/STU3/Encounter", params={"patient": MAIN_PATIENT, "_count": "25"},
                       headers=headers).json()
    assert _links(first)["next"].startswith("http://testserver/api/FHIR/STU3/Encounter?sessionID=")
    second = client.get(_links(first)["next"], headers=headers).json()
    assert second["total"] == 1
    assert second["entry"][0]["resource"]["subject"]["reference"] == (
        f"http://testserver/api/FHIR/STU3/Patient/{MAIN_PATIENT}"
    )


def test_outcomes_echo_the_values_and_names_searched_with(authorised) -> None:
    client, headers = authorised
    response = client.get(f"{R4}/Patient", params={"family": "Lopez", "birthdate": "12/09/1987"}, headers=headers)
    assert response.status_code == 400
    assert "12/09/1987" in response.json()["issue"][0]["diagnostics"]
    unknown = client.get(f"{R4}/Patient", params={"family": "Lopez", "mrn-E4000": "1"}, headers=headers)
    assert "MRN-E4000" in unknown.json()["issue"][0]["diagnostics"]
