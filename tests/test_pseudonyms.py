"""Patient data out of cassettes and the exchange log, by allow-list: structure, codes, ids and references
stay (so replay still works); names, telecom, addresses, identifiers and member ids, narratives, notes,
answers, attachments, dates (year kept), OperationOutcome diagnostics and patient query values go."""

from __future__ import annotations

import copy
import gzip
import json
import re
from pathlib import Path

import httpx

from harness.cassettes import Pseudonymizer
from tests.conftest import SANDBOX_TENANT
from tests.support.patient_data import RICH_TYPES, enrich_store, written_values
from tests.support.checks import Judged
from tests.support.recorded import Offline, cassette_text, differing, judge_recorded, outcomes, recorded_state

KEY = b"test-only-pseudonym-key"
MRN = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.0"

PATIENT = {
    "resourceType": "Patient", "id": "eP1", "meta": {"versionId": "3", "lastUpdated": "2024-03-04T05:06:07Z"},
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Camila Lopez, born 1987-09-12, '
                                           'MRN 203713, 608-555-3001, 42 Quarry Lane, Verona WI 53593</div>'},
    "identifier": [{"use": "usual", "system": MRN, "value": "203713", "type": {"text": "MRN"}}],
    "active": True, "gender": "female", "birthDate": "1987-09-12",
    "name": [{"use": "official", "family": "Lopez", "given": ["Camila", "Maria"], "text": "Camila Maria Lopez"}],
    "telecom": [{"system": "phone", "value": "608-555-3001", "use": "home"},
                {"system": "email", "value": "camila.lopez@mail.example", "use": "home"}],
    "address": [{"use": "home", "line": ["42 Quarry Lane"], "city": "Verona", "state": "WI",
                 "postalCode": "53593", "country": "USA", "period": {"start": "2019-06-01"}}],
    "contact": [{"name": {"family": "Delgado", "given": ["Rosa"]}, "telecom": [{"system": "phone", "value": "608-555-7720"}]}],
    "photo": [{"contentType": "image/png", "data": "aGVsbG8=", "title": "Camila at intake"}],
    "generalPractitioner": [{"reference": "Practitioner/eM5", "display": "Dr Physician"}],
}
COVERAGE = {"resourceType": "Coverage", "id": "eC1", "status": "active", "subscriberId": "HMI700010",
            "identifier": [{"system": "urn:oid:1.2.3", "value": "MEMBER-99812"}],
            "beneficiary": {"reference": "Patient/eP1", "display": "Camila Lopez"},
            "payor": [{"reference": "Organization/eO1", "display": "Harness Health Plan"}],
            "period": {"start": "2023-02-14"}}
CONDITION = {"resourceType": "Condition", "id": "eD1", "subject": {"reference": "Patient/eP1"},
             "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                            "code": "active"}]},
             "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"}],
                      "text": "high blood pressure since her divorce"},
             "onsetDateTime": "2021-04-17T10:30:00-05:00", "recordedDate": "2021-04-18",
             "note": [{"authorString": "Nurse Ratched", "time": "2021-04-18T09:00:00Z",
                       "text": "Patient called from 608 555 3001 about her brother Tomas"}]}
ANSWERS = {"resourceType": "QuestionnaireResponse", "id": "eQ1", "status": "completed",
           "questionnaire": "http://open.epic.com/Questionnaire/phq2", "authored": "2024-01-09T08:15:00Z",
           "subject": {"reference": "Patient/eP1"},
           "item": [{"linkId": "1", "text": "How do you feel?", "answer": [{"valueString": "tired since losing my job"}]},
                    {"linkId": "2", "answer": [{"valueInteger": 3}, {"valueBoolean": True}]},
                    {"linkId": "3", "answer": [{"valueDate": "2023-11-30"}]},
                    {"linkId": "4", "answer": [{"valueCoding": {"system": "http://loinc.org", "code": "LA6570-1",
                                                                "display": "More than half the days"}}]}]}
DOCUMENT = {"resourceType": "DocumentReference", "id": "eR1", "status": "current", "subject": {"reference": "Patient/eP1"},
            "date": "2024-02-02T12:00:00Z",
            "content": [{"attachment": {"contentType": "text/plain", "data": "U3ludGhldGljIG5vdGUgb24gQ2FtaWxh",
                                        "url": "https://files.example/notes/camila-lopez.txt",
                                        "title": "Camila Lopez discharge note", "creation": "2024-02-02"}}]}
OUTCOME = {"resourceType": "OperationOutcome", "issue": [{
    "severity": "information", "code": "informational",
    "details": {"coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369", "code": "59100",
                            "display": "Unknown parameter"}], "text": "ADDRESS-CITY=Verona was ignored"},
    "diagnostics": "Search family=Lopez&address-city=Verona&address-postalcode=53593&mrn=203713"}]}
BUNDLE = {"resourceType": "Bundle", "type": "searchset", "total": 5,
          "link": [{"relation": "self", "url": "https://epic.example/api/FHIR/R4/Patient?family=Lopez&given=Camila&_count=5"},
                   {"relation": "next", "url": "https://epic.example/api/FHIR/R4/Patient?sessionID=16-ABC&family=Lopez"}],
          "entry": [{"fullUrl": f"https://epic.example/api/FHIR/R4/{r['resourceType']}/{r['id']}", "resource": r,
                     "search": {"mode": "match"}} for r in (PATIENT, COVERAGE, CONDITION, ANSWERS, DOCUMENT)]
          + [{"resource": OUTCOME, "search": {"mode": "outcome"}}]}

PATIENT_VALUES = ["Camila", "Lopez", "Maria", "1987-09-12", "203713", "608-555-3001", "608 555 3001",
                  "camila.lopez@mail.example", "Quarry", "Verona", "53593", "Delgado", "Rosa", "608-555-7720",
                  "aGVsbG8=", "Camila at intake", "HMI700010", "MEMBER-99812", "divorce", "Ratched", "Tomas",
                  "2021-04-17", "2021-04-18", "tired since", "2023-11-30", "2024-01-09", "2024-02-02", "2024-03-04",
                  "U3ludGhldGljIG5vdGUgb24gQ2FtaWxh", "camila-lopez.txt", "discharge note", "2019-06-01", "2023-02-14"]


def test_every_patient_value_is_replaced_and_structure_codes_and_ids_stay() -> None:
    pseudo = Pseudonymizer(KEY)
    out = pseudo.resource(copy.deepcopy(BUNDLE))
    text = json.dumps(out)
    for value in PATIENT_VALUES:
        assert value not in text, value
    patient, coverage, condition, answers, document = (e["resource"] for e in out["entry"][:5])
    assert [e["resource"]["id"] for e in out["entry"][:5]] == ["eP1", "eC1", "eD1", "eQ1", "eR1"]
    assert patient["gender"] == "female" and patient["birthDate"] == "1987-01-01"  # the year kept
    assert patient["telecom"][0]["system"] == "phone" and patient["identifier"][0]["system"] == MRN
    assert patient["generalPractitioner"][0]["reference"] == "Practitioner/eM5"
    assert condition["code"]["coding"][0] == CONDITION["code"]["coding"][0]  # codes stay
    assert condition["onsetDateTime"] == "2021-01-01T00:00:00-05:00"
    assert answers["item"][1]["answer"] == [{"valueInteger": 0}, {"valueBoolean": False}]
    assert answers["item"][0]["linkId"] == "1" and answers["questionnaire"] == ANSWERS["questionnaire"]
    assert out["entry"][5]["resource"]["issue"][0]["details"]["coding"][0]["code"] == "59100"
    assert out["link"][1]["relation"] == "next" and "sessionID=16-ABC" in out["link"][1]["url"]
    assert "_count=5" in out["link"][0]["url"]
    assert pseudo.resource(out) == out  # idempotent: vcrpy runs it again when it loads a cassette
    assert Pseudonymizer(KEY).resource(copy.deepcopy(BUNDLE)) == out  # stable between record and replay


def test_scrubbed_resources_stay_valid_fhir() -> None:
    from harness.fhir.validation import validator_for

    validator = validator_for("R4")
    pseudo = Pseudonymizer(KEY)
    for resource in (PATIENT, COVERAGE, CONDITION, ANSWERS, DOCUMENT, OUTCOME):
        before = validator.validate(resource)
        after = validator.validate(pseudo.resource(copy.deepcopy(resource)))
        assert [str(i) for i in after] == [str(i) for i in before], resource["resourceType"]


def test_the_sandbox_population_stays_valid_once_scrubbed() -> None:
    from harness.fhir.validation import validator_for
    from harness.sandbox.population import default_population

    pseudo = Pseudonymizer(KEY)
    for version in ("R4", "STU3"):
        validator = validator_for(version)
        for resource in default_population().all(version):
            if validator.is_valid(resource):
                issues = validator.validate(pseudo.resource(copy.deepcopy(resource)))
                assert not issues, (version, resource["resourceType"], [str(i) for i in issues[:3]])


def test_query_values_are_replaced_except_structural_ones() -> None:
    pseudo = Pseudonymizer(KEY)
    url = ("https://epic.example/api/FHIR/R4/Patient?family=Lopez&given:exact=Camila&birthdate=1987-09-12"
           "&address-city=Verona&address-postalcode=53593&mrn=203713&phone=608-555-3001&email=c%40mail.example"
           "&identifier=urn:oid:1.2|203713&_count=10&sessionID=16-AB&patient=eP1&status=active&date=ge2021-04-17")
    out = pseudo.query(url)
    for value in ("Lopez", "Camila", "09-12", "Verona", "53593", "203713", "555", "mail.example", "04-17"):
        assert value not in out, value
    for kept in ("_count=10", "sessionID=16-AB", "patient=eP1", "status=active", "birthdate=1987-01-01",
                 "identifier=urn:oid:1.2|pseudo-", "date=ge2021-01-01"):
        assert kept in out, kept
    assert pseudo.query(out) == out


def test_free_text_loses_every_value_seen_and_any_phone_or_email() -> None:
    pseudo = Pseudonymizer(KEY)
    pseudo.resource(copy.deepcopy(PATIENT))
    message = "GET Patient?family=Lopez: no match for Camila (call (608) 555-3001 or camila.lopez@mail.example)"
    out = pseudo.text(message)
    for value in ("Lopez", "Camila", "555-3001", "mail.example"):
        assert value not in out, value
    assert out.startswith("GET Patient?family=pseudo-")


def test_enum_elements_cover_every_code_list_in_the_shipped_schemas() -> None:
    from harness.pseudonyms import ENUM_ELEMENTS

    root = Path(__file__).resolve().parents[1] / "harness" / "fhir" / "schemas"
    derived: set[str] = set()
    for version in ("r4", "stu3"):
        definitions = json.loads(gzip.decompress((root / version / "fhir.schema.json.gz").read_bytes()))["definitions"]
        for definition in definitions.values():
            properties = dict(definition.get("properties") or {})
            for part in definition.get("allOf", []):
                properties.update(part.get("properties") or {})
            for name, prop in properties.items():
                if not name.startswith("_") and ("enum" in prop or "enum" in (prop.get("items") or {})):
                    derived.add(name)
    assert derived <= ENUM_ELEMENTS, sorted(derived - ENUM_ELEMENTS)


def test_the_exchange_log_is_patient_scrubbed_when_the_tenant_asks() -> None:
    import dataclasses

    from harness.client import TenantClient
    from harness.config import CassetteSettings, load_tenant

    tenant = load_tenant(SANDBOX_TENANT, base_url="https://epic.example/interconnect")
    tenant = dataclasses.replace(tenant, cassettes=CassetteSettings(scrub_patient_data=True, pseudonym_key=KEY))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/html"):
            return httpx.Response(500, text="<html>Camila Lopez 608-555-3001</html>", headers={"Content-Type": "text/html"})
        return httpx.Response(200, json=BUNDLE, headers={"Content-Type": "application/fhir+json"})

    client = TenantClient(tenant, transport=httpx.MockTransport(handler))
    client.use_tokens(lambda: "token-0000000000", lambda: None)
    client.get(client.url("R4", "Patient"), params={"family": "Lopez", "address-city": "Verona", "_count": "5"})
    client.post(client.url("R4", "Patient/$match"), json={"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": PATIENT}, {"name": "onlyCertainMatches", "valueBoolean": True}]})
    client.get(client.url("R4", "Patient/html"))
    assert client.pseudonymizer is not None
    logged = json.dumps([e.as_dict() for e in client.log])
    for value in PATIENT_VALUES:
        assert value not in logged, value
    assert "_count=5" in logged and "onlyCertainMatches" in logged and "not kept" in logged


# -- recorded and replayed in process: a population rich in patient data ------------------------------------

def _rich_apis(state) -> list[str]:  # type: ignore[no-untyped-def]
    """One search API per patient-data type of the requested set, Patient.Read, $match and a search by NPI, and
    the creates and updates of those types (their request bodies carry patient data too)."""
    requested = [a for a in state.tenant.requested.apis if a.version == "R4"]
    names = [next(a.name for a in requested if a.name.startswith(f"{t}.") and a.interaction == "search")
             for t in RICH_TYPES if any(a.name.startswith(f"{t}.") and a.interaction == "search" for a in requested)]
    names += [a.name for a in requested if a.name.split(".")[0] in RICH_TYPES and a.interaction in ("create", "update")]
    return names + ["Patient.Read (Demographics) (R4)", "Patient.$match (Patient Match) (R4)",
                    "Practitioner.Search (Organizational Directory) (R4)"]  # searched by the NPI of the tenant file


def _judge_rich(state) -> dict[str, Judged]:  # type: ignore[no-untyped-def]
    from tests.support.checks import check_ids, info, parametrizations

    collected = {check_id: parametrizations(state, info(check_id)) for check_id in check_ids()}
    judged = {}
    for name in _rich_apis(state):  # API by API, each check of it as a run collects it
        for check_id, cases in collected.items():
            for params in cases:
                if "api" in params and params["api"].name == name:
                    found = judge_recorded(state, check_id, **params)
                    judged[found.result.id] = found
    return judged


def test_a_scrubbed_recording_holds_no_patient_value_and_replays(tmp_path: Path) -> None:
    """The sandbox's patient resources given narratives, notes and free-text answers of their own values, then
    recorded with patient-data scrubbing on: no value is in any cassette, and the recording replays, with nothing
    served, to the same outcomes."""
    import dataclasses

    from harness.config import CassetteSettings, load_tenant
    from tests.support.checks import ROOT, sandbox_app

    tenant = load_tenant(SANDBOX_TENANT, base_url=ROOT)
    tenant = dataclasses.replace(tenant, cassettes=CassetteSettings(scrub_patient_data=True, pseudonym_key=KEY))
    app = sandbox_app()
    values = enrich_store(app.state.sandbox.fhir.store)
    cassettes = tmp_path / "cassettes"
    with recorded_state("record", cassettes, app=app, tenant=tenant, tmp_path=tmp_path) as state:
        recorded = _judge_rich(state)
    phones = [v for v in values if re.fullmatch(r"\d{3}-\d{3}-\d{4}", v)]
    assert len(values) > 100 and phones and "Cedarbrook1" in " ".join(values)
    files = cassette_text(cassettes)
    everything = "\n".join(files.values())
    assert len(files) > 80 and "pseudo-" in everything and "subscriberId" in everything
    assert "DocumentReference" in everything and "method: POST" in everything  # creates, with their bodies
    found = written_values(values, everything)
    assert found == [], f"{len(found)} patient values recorded, e.g. {found[:5]}"
    for real in ("Camila", "Lopez", "1987-09-12", "1234567893"):  # the test data of the tenant file, too
        assert real not in everything, real
    offline = Offline()
    with recorded_state("replay", cassettes, tenant=tenant, offline=offline, tmp_path=tmp_path) as state:
        replayed = _judge_rich(state)
    assert offline.sent == []
    assert not differing(recorded.values(), replayed.values()), differing(recorded.values(), replayed.values())
    counted = list(outcomes(recorded.values()).values())
    assert len(counted) > 150 and "broken" not in counted and counted.count("passed") > 100


def test_without_scrubbing_the_recording_holds_the_patient_values(tmp_path: Path) -> None:
    """The control of the test above: the same population recorded as it is keeps its patient values."""
    from tests.support.checks import requested_api, sandbox_app

    app = sandbox_app()
    values = enrich_store(app.state.sandbox.fhir.store)
    cassettes = tmp_path / "cassettes"
    with recorded_state("record", cassettes, app=app, tmp_path=tmp_path) as state:
        for name in ("Patient.Search (Demographics) (R4)", "Condition.Search (Reason for Visit) (R4)"):
            assert judge_recorded(state, "exercise.search", api=requested_api(state, name)).outcome == "passed"
    found = written_values(values, "\n".join(cassette_text(cassettes).values()))
    assert len(found) > 20
