"""The per-type FHIR faults: each breaks one resource type and leaves every other one alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sandbox_helpers import INVALID_TOKEN, TestClient, bearer, get_token, sandbox_client

from harness.fhir.validation import validator_for
from harness.sandbox import FAULTS, FaultError, default_settings
from harness.sandbox.population import MAIN_PATIENT, MAIN_PRACTITIONER

R4 = "/api/FHIR/R4"
FHIR_FAULTS = [
    "fhir-status:Patient=503",
    "fhir-html-500:Coverage",
    "fhir-content-type:Encounter=text/html",
    "fhir-invalid:Patient",
    "fhir-looping-next:Encounter",
    "fhir-missing-page:Encounter",
    "fhir-duplicate-entries:Encounter",
    "fhir-not-authorized:AllergyIntolerance",
    "fhir-empty:Flag",
]


def _client(*faults: str) -> tuple[TestClient, dict[str, str]]:
    client = sandbox_client(faults)
    return client, bearer(get_token(client)["access_token"])


def _links(bundle: dict) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle["link"]}


def _codes(outcome: dict) -> list[str]:
    return [issue["details"]["coding"][0]["code"] for issue in outcome["issue"]]


def _untouched(client: TestClient, headers: dict[str, str]) -> None:
    """Another type still answers as usual."""
    response = client.get(f"{R4}/Practitioner/{MAIN_PRACTITIONER}", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/fhir+json; charset=utf-8"
    assert validator_for("R4").validate(response.json()) == []
    bundle = client.get(f"{R4}/Appointment", params={"patient": MAIN_PATIENT, "_count": "2"}, headers=headers).json()
    second = client.get(_links(bundle)["next"], headers=headers).json()
    assert "next" not in _links(second)
    ids = [e["resource"]["id"] for page in (bundle, second) for e in page["entry"]]
    assert len(ids) == len(set(ids)) == 4


def test_every_fhir_fault_is_registered_and_accepted() -> None:
    assert default_settings(FHIR_FAULTS).faults == frozenset(FHIR_FAULTS)
    for name in ("fhir-status:TYPE=CODE", "fhir-html-500:TYPE", "fhir-content-type:TYPE=MEDIA",
                 "fhir-invalid:TYPE", "fhir-looping-next:TYPE", "fhir-missing-page:TYPE",
                 "fhir-duplicate-entries:TYPE", "fhir-not-authorized:TYPE", "fhir-empty:TYPE",
                 "fhir-ignore-token"):
        assert name in FAULTS


@pytest.mark.parametrize(
    "fault",
    ["fhir-status:Patient", "fhir-status:Patient=abc", "fhir-status:Patient=99", "fhir-status:patient=500",
     "fhir-html-500", "fhir-content-type:Patient=html", "fhir-empty:not a type"],
)
def test_bad_fault_arguments_are_refused(fault) -> None:
    with pytest.raises(ValueError):
        default_settings([fault])


def test_status() -> None:
    client, headers = _client("fhir-status:Patient=503")
    for response in (
        client.get(f"{R4}/Patient/{MAIN_PATIENT}", headers=headers),
        client.get(f"{R4}/Patient", params={"_id": MAIN_PATIENT}, headers=headers),
        client.get(f"/api/FHIR/DSTU2/Patient/{MAIN_PATIENT}", headers=headers),
        client.post(f"{R4}/Patient/$match", json={"resourceType": "Parameters"}, headers=headers),
    ):
        assert response.status_code == 503
        assert response.json()["resourceType"] == "OperationOutcome"
        assert response.json()["issue"][0]["severity"] == "fatal"
    _untouched(client, headers)


def test_status_still_checks_scopes_first() -> None:
    client, headers = _client("fhir-status:Patient=500", "grant-fewer-scopes:Patient")
    assert client.get(f"{R4}/Patient/{MAIN_PATIENT}", headers=headers).status_code == 403


def test_html_500() -> None:
    client, headers = _client("fhir-html-500:Coverage")
    response = client.get(f"{R4}/Coverage", params={"patient": MAIN_PATIENT}, headers=headers)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "500 - Internal server error." in response.text
    _untouched(client, headers)


def test_content_type() -> None:
    client, headers = _client("fhir-content-type:Encounter=text/html")
    response = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html"
    assert response.json()["resourceType"] == "Bundle"
    _untouched(client, headers)


def test_invalid() -> None:
    client, headers = _client("fhir-invalid:Patient")
    for version in ("R4", "STU3", "DSTU2"):
        read = client.get(f"/api/FHIR/{version}/Patient/{MAIN_PATIENT}", headers=headers).json()
        issues = validator_for(version).validate(read)
        assert issues, version
        bundle = client.get(f"/api/FHIR/{version}/Patient", params={"_id": MAIN_PATIENT}, headers=headers).json()
        assert validator_for(version).validate(bundle), version
    read = client.get(f"{R4}/Patient/{MAIN_PATIENT}", headers=headers).json()
    r4_rules = {issue.rule for issue in validator_for("R4").validate(read)}
    assert {"type", "additionalProperties"} <= r4_rules
    assert isinstance(read["birthDate"], int)
    _untouched(client, headers)


def test_looping_next() -> None:
    client, headers = _client("fhir-looping-next:Encounter")
    first = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT}, headers=headers).json()
    assert first["total"] == 26
    next_url = _links(first)["next"]
    for _ in range(3):
        page = client.get(next_url, headers=headers)
        assert page.status_code == 200
        bundle = page.json()
        assert _links(bundle)["next"] == next_url == _links(bundle)["self"]
        assert [e["resource"]["id"] for e in bundle["entry"]] == [e["resource"]["id"] for e in first["entry"]]
    _untouched(client, headers)


def test_missing_page() -> None:
    client, headers = _client("fhir-missing-page:Encounter")
    first = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT, "_count": "10"}, headers=headers).json()
    assert first["total"] == 10
    missing = client.get(_links(first)["next"], headers=headers)
    assert missing.status_code == 404
    assert _codes(missing.json()) == ["4113"]
    single = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT}, headers=headers).json()
    assert client.get(_links(single)["next"], headers=headers).status_code == 404
    _untouched(client, headers)


def test_duplicate_entries() -> None:
    client, headers = _client("fhir-duplicate-entries:Encounter")
    first = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT, "_count": "10"}, headers=headers).json()
    second = client.get(_links(first)["next"], headers=headers).json()
    ids = [e["resource"]["id"] for e in first["entry"]]
    assert [e["resource"]["id"] for e in second["entry"]] == ids
    third = client.get(_links(second)["next"], headers=headers).json()
    assert not set(e["resource"]["id"] for e in third["entry"]) & set(ids)
    one_page = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT}, headers=headers).json()
    repeat = client.get(_links(one_page)["next"], headers=headers).json()
    assert [e["resource"]["id"] for e in repeat["entry"]] == [e["resource"]["id"] for e in one_page["entry"]]
    assert "next" not in _links(repeat)
    _untouched(client, headers)


def test_not_authorized() -> None:
    client, headers = _client("fhir-not-authorized:Flag")
    bundle = client.get(f"{R4}/Flag", params={"patient": MAIN_PATIENT, "category": "infection"},
                        headers=headers).json()
    assert bundle["total"] == 0
    (entry,) = bundle["entry"]
    assert entry["search"] == {"mode": "outcome"}
    issues = entry["resource"]["issue"]
    assert _codes(entry["resource"]) == ["59204", "4101"]
    assert issues[0]["severity"] == "warning" and issues[0]["code"] == "suppressed"
    assert issues[0]["diagnostics"] == (
        "Client not authorized for Flag - Infection. Search results of this type have not been included."
    )
    plain = client.get(f"{R4}/Flag", params={"patient": MAIN_PATIENT}, headers=headers).json()
    assert "Flag - Outside Record" in plain["entry"][0]["resource"]["issue"][0]["diagnostics"]
    assert client.get(f"{R4}/Coverage", params={"patient": MAIN_PATIENT}, headers=headers).json()["total"] == 2
    _untouched(client, headers)


def test_empty() -> None:
    client, headers = _client("fhir-empty:Flag")
    bundle = client.get(f"{R4}/Flag", params={"patient": MAIN_PATIENT}, headers=headers).json()
    assert bundle["total"] == 0
    assert _codes(bundle["entry"][0]["resource"]) == ["4101"]
    assert "next" not in _links(bundle)
    _untouched(client, headers)


def test_faults_apply_per_type_in_every_version() -> None:
    client, headers = _client("fhir-empty:Patient", "fhir-status:Encounter=502")
    assert client.get("/api/FHIR/DSTU2/Patient", params={"_id": MAIN_PATIENT}, headers=headers).json()["total"] == 0
    assert client.get("/api/FHIR/STU3/Encounter", params={"patient": MAIN_PATIENT},
                      headers=headers).status_code == 502
    assert client.get("/api/FHIR/STU3/Practitioner", params={"family": "Physician"},
                      headers=headers).json()["total"] == 2


# --- faults the harness's later checks are tested against ---------------------------------------

#: A real Epic Encounter search that returned 10 encounters and a 59204 for Outside Record.
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "epic" / "mh-encounter-search-erXuFYUfucBZaryVksYEcMg3.json"


def test_a_misspelled_type_is_refused_naming_the_served_one() -> None:
    with pytest.raises(FaultError, match="did you mean Practitioner"):
        default_settings(["fhir-html-500:Practitionr"])
    with pytest.raises(FaultError, match="not a resource type the sandbox serves"):
        default_settings(["fhir-empty:Starship"])


def test_not_served_answers_the_iis_404_page_for_reads_and_searches() -> None:
    client, headers = _client("fhir-not-served:Coverage")
    for response in (client.get(f"{R4}/Coverage", params={"patient": MAIN_PATIENT}, headers=headers),
                     client.get(f"{R4}/Coverage/eAny00000000000000000003", headers=headers),
                     client.post(f"{R4}/Coverage/_search", data={"patient": MAIN_PATIENT}, headers=headers)):
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "404 - File or directory not found." in response.text
    _untouched(client, headers)


def test_suppressed_context_keeps_the_entries_and_adds_epics_59204() -> None:
    client, headers = _client("fhir-suppressed-context:Encounter=Outside Record")
    bundle = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT, "_count": "10"}, headers=headers).json()
    matches = [e for e in bundle["entry"] if e["search"]["mode"] == "match"]
    (outcome,) = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(matches) == bundle["total"] == 10
    assert bundle["entry"][-1] is outcome or bundle["entry"][-1] == outcome  # last, as Epic puts it
    (issue,) = outcome["resource"]["issue"]
    epic = json.loads(REFERENCE.read_text())["body"]["entry"][-1]["resource"]["issue"][0]
    assert issue["diagnostics"] == ("Client not authorized for Encounter - Outside Record. "
                                    "Search results of this type have not been included.")
    assert (issue["severity"], issue["code"], issue["details"]["coding"][0]["code"]) == ("warning", "suppressed", "59204")
    assert issue == epic  # word for word what Epic answered
    assert "next" in _links(bundle)
    _untouched(client, headers)


def test_two_suppressed_contexts() -> None:
    client, headers = _client("fhir-suppressed-context:Condition=Outside Record Problems",
                              "fhir-suppressed-context:Condition=Outside Record Health Concern")
    bundle = client.get(f"{R4}/Condition", params={"patient": MAIN_PATIENT}, headers=headers).json()
    outcome = bundle["entry"][-1]["resource"]
    assert _codes(outcome) == ["59204", "59204"]
    assert {i["diagnostics"].split(" - ")[1].split(".")[0] for i in outcome["issue"]} == {
        "Outside Record Problems", "Outside Record Health Concern"}


def test_echo_authorization_puts_the_bearer_token_in_diagnostics() -> None:
    client, headers = _client("fhir-echo-authorization:Patient")
    response = client.get(f"{R4}/Patient/{MAIN_PATIENT}", headers=headers)
    assert response.status_code == 500
    issue = response.json()["issue"][0]
    assert headers["authorization"] in issue["diagnostics"]
    _untouched(client, headers)


@pytest.mark.parametrize("text", ["\u001b[2J\u001b]0;pwned\u0007", "[link=http://x.example]x[/link] [/bold]",
                                  "two\nlines *and* `markdown`"])
def test_diagnostics_text_in_every_outcome_of_a_type(text: str) -> None:
    client, headers = _client(f"fhir-diagnostics:Flag={json.dumps(text)}", "fhir-status:Flag=500")
    error = client.get(f"{R4}/Flag", params={"patient": MAIN_PATIENT}, headers=headers)
    assert error.status_code == 500 and error.json()["issue"][0]["diagnostics"] == text
    client, headers = _client(f"fhir-diagnostics:Flag={json.dumps(text)}")
    empty = client.get(f"{R4}/Flag", params={"patient": "eNobody0000000000000000003"}, headers=headers).json()
    assert [i["diagnostics"] for i in empty["entry"][-1]["resource"]["issue"]] == [text]
    missing = client.get(f"{R4}/Flag/eNope00000000000000000003", headers=headers).json()
    assert missing["issue"][0]["diagnostics"] == text
    assert client.get(f"{R4}/Patient/eNope00000000000000000003", headers=headers).json()["issue"][0][
        "diagnostics"] == "Invalid FHIR ID provided"


def test_reject_tokens_answers_401_even_with_a_valid_token() -> None:
    client, headers = _client("fhir-reject-tokens")
    for path in (f"{R4}/Patient/{MAIN_PATIENT}", f"{R4}/Practitioner?family=Physician"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == INVALID_TOKEN
    assert client.get(f"{R4}/metadata", headers={"accept": "application/fhir+json"}).status_code == 200
    fine, fine_headers = _client()
    assert fine.get(f"{R4}/Patient/{MAIN_PATIENT}", headers=fine_headers).status_code == 200


def test_wrong_patient_answers_another_patients_resources() -> None:
    client, headers = _client("fhir-wrong-patient:Coverage")
    bundle = client.get(f"{R4}/Coverage", params={"patient": MAIN_PATIENT}, headers=headers).json()
    subjects = {e["resource"]["beneficiary"]["reference"] for e in bundle["entry"] if e["search"]["mode"] == "match"}
    assert subjects and f"Patient/{MAIN_PATIENT}" not in subjects
    assert _links(bundle)["self"].endswith(f"patient={MAIN_PATIENT}")
    _untouched(client, headers)
