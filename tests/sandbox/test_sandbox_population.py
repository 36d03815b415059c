"""The sandbox's synthetic population: valid for each FHIR version, deterministic, Epic-shaped."""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from harness.fhir.validation import validator_for
from harness.sandbox import population as pop
from harness.sandbox.population import Population, _build, default_population, npi
from harness.sandbox.population.versions import DSTU2_TYPES, STU3_TYPES

TENANT = Path(__file__).resolve().parents[2] / "harness" / "sandbox" / "tenant" / "sandbox.toml"
EPIC_ID = re.compile(r"^e[A-Za-z0-9.\-]{20,60}3$")
RELATIVE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


@pytest.fixture(scope="module")
def population() -> Population:
    return default_population()


@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
def test_every_resource_is_valid_for_its_version(population, version) -> None:
    validator = validator_for(version)
    problems = {
        f"{resource['resourceType']}/{resource['id']}": [str(issue) for issue in issues]
        for resource in population.all(version)
        if (issues := validator.validate(resource))
    }
    assert problems == {}
    assert population.count(version) > 0


def test_each_version_serves_the_types_of_its_apis(population) -> None:
    assert set(population.types("DSTU2")) == set(DSTU2_TYPES)
    assert set(population.types("STU3")) == set(STU3_TYPES) | {"Schedule", "Slot"}
    assert {
        "Patient", "Practitioner", "PractitionerRole", "Location", "Organization", "Endpoint", "Coverage",
        "Encounter", "Condition", "EpisodeOfCare", "List", "Flag", "Consent", "DocumentReference",
        "Questionnaire", "QuestionnaireResponse", "ServiceRequest", "Communication", "Task",
        "RelatedPerson", "Appointment",
    } <= set(population.types("R4"))
    assert "Schedule" not in population.types("R4")


def test_the_population_is_built_the_same_every_time(population) -> None:
    assert _build().resources == population.resources


def test_ids_look_like_epics(population) -> None:
    for version in ("R4", "STU3", "DSTU2"):
        for resource in population.all(version):
            assert EPIC_ID.match(resource["id"]), resource["id"]
    ids = Counter(resource["id"] for resource in population.all("R4"))
    assert [rid for rid, n in ids.items() if n > 1] == []


def test_ids_are_the_same_in_every_version(population) -> None:
    for resource_type in DSTU2_TYPES:
        r4 = {r["id"] for r in population.of_type("R4", resource_type)}
        assert {r["id"] for r in population.of_type("STU3", resource_type)} == r4
        assert {r["id"] for r in population.of_type("DSTU2", resource_type)} == r4


def test_the_fixtures_the_sandbox_tenant_file_names_exist(population) -> None:
    data = tomllib.loads(TENANT.read_text("utf-8"))["test_data"]
    patient = population.get("R4", "Patient", data["patient"])
    assert patient["name"][0]["family"] == data["patient_family"]
    assert data["patient_given"] in patient["name"][0]["given"]
    assert patient["birthDate"] == data["patient_birthdate"]
    practitioner = population.get("R4", "Practitioner", data["practitioner"])
    npis = [i["value"] for i in practitioner["identifier"] if i["system"] == pop.NPI_SYSTEM]
    assert npis == [data["practitioner_npi"]]
    assert practitioner["name"][0]["family"] == data["practitioner_family"]
    assert any(r["name"] == data["location_name"] for r in population.of_type("R4", "Location"))
    assert any(r["name"] == data["organization_name"] for r in population.of_type("R4", "Organization"))
    assert any(r["name"] == data["questionnaire_name"] for r in population.of_type("R4", "Questionnaire"))
    assert population.get("R4", "Questionnaire", data["questionnaire"])["name"] == data["questionnaire_name"]
    system, _, value = data["patient_list_identifier"].partition("|")
    assert any(
        i == {"use": "usual", "system": system, "value": value}
        for r in population.of_type("R4", "List")
        for i in r.get("identifier", ())
    )
    assert population.get("R4", "Endpoint", data["endpoint"])
    assert population.get("STU3", "Schedule", data["schedule"])
    assert population.get("STU3", "Slot", data["slot"])["status"] == "free"


def test_patients_carry_epics_legal_sex_and_identifiers(population) -> None:
    patients = population.of_type("R4", "Patient")
    assert len(patients) == 12
    for patient in patients:
        urls = [extension["url"] for extension in patient["extension"]]
        assert pop.LEGAL_SEX_URL in urls
        systems = {identifier["system"] for identifier in patient["identifier"]}
        assert {pop.EPI_SYSTEM, pop.MRN_SYSTEM, pop.FHIR_ID_SYSTEM} <= systems


def test_practitioners_have_valid_npis(population) -> None:
    assert npi(123456789) == pop.MAIN_PRACTITIONER_NPI
    npis = []
    for practitioner in population.of_type("R4", "Practitioner"):
        (number,) = [i["value"] for i in practitioner["identifier"] if i["system"] == pop.NPI_SYSTEM]
        assert number == npi(int(number[:9]))
        npis.append(number)
    assert len(npis) == len(set(npis)) >= 25


def test_there_is_enough_for_three_pages_of_ten(population) -> None:
    encounters = [
        r for r in population.of_type("R4", "Encounter")
        if r["subject"]["reference"] == f"Patient/{pop.MAIN_PATIENT}"
    ]
    assert len(encounters) > 20
    assert len(population.of_type("R4", "Practitioner")) >= 25


def test_lists_and_flags_cover_every_context(population) -> None:
    codes = {r["code"]["coding"][0]["code"] for r in population.of_type("R4", "List")}
    assert {"problems", "allergies", "medications", "immunizations", "family-history",
            "hospital-problems", "patient-list"} <= codes
    categories = {r["category"][0]["coding"][0]["code"] for r in population.of_type("R4", "Flag")}
    assert categories == {"health-concern", "infection", "isolation", "patient-fyi"}


def _references(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


@pytest.mark.parametrize("version", ["R4", "STU3"])
def test_references_are_relative_and_resolve(population, version) -> None:
    served = set(population.types(version))
    dangling = []
    for resource in population.all(version):
        for reference in _references(resource):
            match = RELATIVE.match(reference)
            assert match, reference
            kind, rid = match.groups()
            if kind in served and population.get(version, kind, rid) is None:
                dangling.append(f"{resource['resourceType']}/{resource['id']} -> {reference}")
    assert dangling == []


def test_dstu2_shapes(population) -> None:
    patient = population.get("DSTU2", "Patient", pop.MAIN_PATIENT)
    assert patient["name"][0]["family"] == ["Lopez"]
    assert "careProvider" in patient and "generalPractitioner" not in patient
    practitioner = population.get("DSTU2", "Practitioner", pop.MAIN_PRACTITIONER)
    assert isinstance(practitioner["name"], dict)


# --- patient data everywhere a scrubber has to find it -------------------------------------------

CAMILA = ("Camila", "Lopez", "1987-09-12", "E4000", "100 Sandbox Lane", "608-555-3000")


def _texts(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [t for value in node.values() for t in _texts(value)]
    if isinstance(node, list):
        return [t for value in node for t in _texts(value)]
    return []


def _mentions_camila(text: str, *parts: str) -> bool:
    return all(part in text for part in parts)


@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
def test_patient_narrative_carries_name_birth_date_mrn_address_and_phone(population, version) -> None:
    patient = population.get(version, "Patient", pop.MAIN_PATIENT)
    div = patient["text"]["div"]
    assert patient["text"]["status"] == "generated" and div.startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    assert _mentions_camila(div, *CAMILA)
    import xml.etree.ElementTree as ET

    ET.fromstring(div)  # well-formed XHTML


def test_coverage_carries_subscriber_and_member_ids(population) -> None:
    for coverage in population.of_type("R4", "Coverage"):
        members = [i for i in coverage["identifier"] if i.get("type", {}).get("coding", [{}])[0].get("code") == "MB"]
        assert members and members[0]["value"] == coverage["subscriberId"]
        assert coverage["subscriberId"] in coverage["text"]["div"]
    assert any("Lopez" in c["text"]["div"] for c in population.of_type("STU3", "Coverage"))


def test_free_text_notes_answers_and_attachments_name_the_patient(population) -> None:
    import base64

    condition = next(c for c in population.of_type("R4", "Condition")
                     if c["subject"]["reference"] == f"Patient/{pop.MAIN_PATIENT}")
    assert _mentions_camila(condition["note"][0]["text"], "Camila", "1987-09-12", "E4000", "608-555-3000")
    assert all(t["note"] for t in population.of_type("R4", "Task"))
    assert all(s["note"] for s in population.of_type("R4", "ServiceRequest"))
    answers = [a["valueString"] for qr in population.of_type("R4", "QuestionnaireResponse")
               for item in qr["item"] for a in item["answer"] if "valueString" in a]
    assert any(_mentions_camila(text, "Camila", "1987-09-12", "E4000") for text in answers)
    document = next(d for d in population.of_type("R4", "DocumentReference")
                    if d["subject"]["reference"] == f"Patient/{pop.MAIN_PATIENT}")
    note = base64.b64decode(document["content"][0]["attachment"]["data"]).decode("utf-8")
    assert _mentions_camila(note, *CAMILA)
    assert "Lopez" in document["content"][0]["attachment"]["title"]
    encounter = population.of_type("R4", "Encounter")[0]
    assert "E4000" in encounter["text"]["div"] and encounter["period"]["start"][:4] == "2024"


def test_patients_have_home_and_mobile_numbers(population) -> None:
    for patient in population.of_type("R4", "Patient"):
        uses = {t["use"] for t in patient["telecom"] if t["system"] == "phone"}
        assert uses == {"home", "mobile"}


@pytest.mark.parametrize("version", ["R4", "STU3"])
def test_lists_with_entry_dates_are_working_lists(population, version) -> None:
    lists = population.of_type(version, "List")
    dated = [r for r in lists if any("date" in entry for entry in r.get("entry", ()))]
    assert dated and all(r["mode"] == "working" for r in dated)  # invariant lst-3
    assert all(not (r.get("emptyReason") and r.get("entry")) for r in lists)  # lst-1
