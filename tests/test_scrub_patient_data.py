"""Patient data out of cassettes and the exchange log, by allow-list: structure, codes, ids and references
stay (so replay still works); names, telecom, addresses, identifiers and member ids, narratives, notes,
answers, attachments, dates (year kept), OperationOutcome diagnostics and patient query values go."""

from __future__ import annotations

import copy
import gzip
import json
import re
from pathlib import Path
from typing import Any, Iterator

import httpx

from harness.cassettes import Pseudonymizer
from tests.conftest import SANDBOX_TENANT, run_harness, tenant_variant

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


# -- end to end: record a population rich in patient data, replay it ------------------------------

RICH_TYPES = ("Patient", "Coverage", "Condition", "DocumentReference", "QuestionnaireResponse", "RelatedPerson",
              "Encounter", "Communication", "EpisodeOfCare", "Flag", "List", "Consent", "ServiceRequest", "Task")
PHI_KEYS = {"family", "given", "line", "city", "postalCode", "district", "birthDate", "subscriberId", "data",
            "title", "authorString", "valueString", "valueDate"}


def _enriched(resource: dict[str, Any], index: int) -> dict[str, Any]:
    """The same resource with a narrative, a note and (for answers) free-text answers, made of its own values."""
    out = copy.deepcopy(resource)
    words = " ".join(v for v in _strings(resource, PHI_KEYS | {"value"}) if len(v) > 3)[:400]
    out["text"] = {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{words}</div>'}
    if out["resourceType"] in ("Condition", "ServiceRequest", "Task", "Communication"):
        out["note"] = [{"authorString": f"Nurse Quillfeather{index}", "text": f"called back about {words[:80]}"}]
    if out["resourceType"] == "QuestionnaireResponse":
        out.setdefault("item", []).append({"linkId": "free-text", "answer": [
            {"valueString": f"feeling low since the move to Cedarbrook{index}"}, {"valueDate": f"2023-10-{index % 27 + 1:02d}"}]})
    return out


def _strings(node: Any, keys: set[str], key: str | None = None, parent: str | None = None) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, keys, k, key)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, keys, key, parent)
    elif isinstance(node, str) and (key in keys or (key == "value" and "value" in keys
                                                    and parent in ("telecom", "identifier"))):
        yield node


def _enrich_store(store: Any) -> list[str]:
    """Put enriched copies of the patient resources in the sandbox; the patient values to look for."""
    values: set[str] = set()
    for resource_type in RICH_TYPES:
        for index, resource in enumerate(store.of_type("R4", resource_type)):
            enriched = store.put("R4", _enriched(resource, index))
            values |= {v for v in _strings(enriched, PHI_KEYS | {"value"}) if len(v) >= 5}
    kept = json.dumps([r for t in ("Slot", "Schedule", "Questionnaire", "Practitioner", "Organization", "Location")
                       for r in store.of_type("R4", t) + store.of_type("STU3", t)])
    resources = [r for t in RICH_TYPES for r in store.of_type("R4", t)]
    ids = {r["id"] for r in resources}  # ids stay, by design: replay reads by them
    displays = set(_strings(resources, {"display"}))  # a code's name is terminology, kept
    # nor is a value that a non-patient resource also shows (a clinic's city, a slot's date)
    return sorted(v for v in values if v not in kept and v not in ids and v not in displays
                  and not re.fullmatch(r"\d{4}(-01(-01)?)?", v))


def _written_values(values: list[str], text: str) -> list[str]:
    """The values that appear in ``text`` as themselves, not inside a longer code or word."""
    # a plain substring test first: the bounded search only for values that are there at all
    return [v for v in values if v in text and re.search(rf"(?<![\w.-]){re.escape(v)}(?![\w.-])", text)]


def test_a_record_run_writes_no_patient_value_and_replays(tmp_path: Path) -> None:
    from harness.sandbox import EmbeddedSandbox

    tenant = tenant_variant(tmp_path, append='\n[cassettes]\nscrub_patient_data = true\npseudonym_key_env = "EH_PSEUDONYM_KEY"\n')
    env = {"EH_PSEUDONYM_KEY": KEY.decode()}
    selection = ["-m", "exercise or patients or questionnaires or probing", "-k",
                 " or ".join(RICH_TYPES) + " or Patient"]
    cassettes = tmp_path / "cassettes"
    with EmbeddedSandbox() as sandbox:
        values = _enrich_store(sandbox.app.state.sandbox.fhir.store)
        url = sandbox.base_url
        recorded = run_harness(tmp_path / "recorded", "--tenant", str(tenant), "--base-url", url, "--mode", "record",
                               "--cassette-dir", str(cassettes), pytest_args=selection, env=env)
    assert recorded.exit_code in (0, 1, 5), recorded.stderr[-2000:]
    phones = [v for v in values if re.fullmatch(r"\d{3}-\d{3}-\d{4}", v)]
    assert len(values) > 100 and phones and "Cedarbrook1" in " ".join(values)
    written = {str(p): p.read_text("utf-8", "replace")  # every file the record run wrote, and its output
               for folder in (cassettes, recorded.report_dir) for p in folder.rglob("*") if p.is_file()}
    written |= {"stdout": recorded.stdout, "stderr": recorded.stderr}
    everything = "\n".join(written.values())
    assert len(written) > 20 and "pseudo-" in everything and "subscriberId" in everything
    found = _written_values(values, everything)
    assert found == [], f"{len(found)} patient values written, e.g. {found[:5]}"
    replay = run_harness(tmp_path / "replayed", "--tenant", str(tenant), "--base-url", url, "--mode", "replay",
                         "--cassette-dir", str(cassettes), pytest_args=selection, env=env)
    outcomes = {c["id"]: c["outcome"] for c in replay.summary["checks"]}
    assert outcomes == {c["id"]: c["outcome"] for c in recorded.summary["checks"]}
    assert len(outcomes) > 30 and "broken" not in outcomes.values()
