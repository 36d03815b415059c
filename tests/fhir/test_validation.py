"""FHIR JSON validation against the shipped schemas: real Epic documents, broken resources,
the schema hash check, and generated Patients."""

from __future__ import annotations

import copy
import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.fhir.structure import impossible_date, period_out_of_order
from harness.fhir.validation import (
    SCHEMA_DIR,
    FhirValidator,
    SchemaIntegrityError,
    ValidationIssue,
    load_schema,
    normalize_version,
    validator_for,
)

EPIC = Path(__file__).resolve().parents[1] / "data" / "epic"


def epic(name: str) -> Any:
    """A document from tests/data/epic; captures wrapped as {_request/_source, body} are unwrapped."""
    document = json.loads((EPIC / name).read_text(encoding="utf-8"))
    if isinstance(document, dict) and "body" in document and "resourceType" not in document:
        return document["body"]
    return document


def epic_patient() -> dict[str, Any]:
    return copy.deepcopy(epic("mh-patient-read-erXuFYUfucBZaryVksYEcMg3.json"))


def has(issues: list[ValidationIssue], path: str, rule: str) -> bool:
    return any(issue.path == path and issue.rule == rule for issue in issues)


def show(issues: list[ValidationIssue]) -> str:
    return "\n".join(str(issue) for issue in issues) or "(no issues)"


@pytest.fixture(scope="module")
def r4() -> FhirValidator:
    return validator_for("R4")


@pytest.fixture(scope="module")
def stu3() -> FhirValidator:
    return validator_for("STU3")


@pytest.fixture(scope="module")
def dstu2() -> FhirValidator:
    return validator_for("DSTU2")


# ---------------------------------------------------------------------------------------------
# Real Epic documents


REAL_EPIC = [
    ("mh-patient-read-erXuFYUfucBZaryVksYEcMg3.json", "R4", "Patient"),
    ("mh-encounter-search-erXuFYUfucBZaryVksYEcMg3.json", "R4", "Bundle"),
    ("mh-allergyintolerance.json", "R4", "Bundle"),
    ("mh-condition-search-empty-result-outcome.json", "R4", "Bundle"),
    ("r4-capabilitystatement-sandbox-may2026.json", "R4", "CapabilityStatement"),
    ("stu3-capabilitystatement-sandbox-may2026.json", "STU3", "CapabilityStatement"),
    ("dstu2-conformance-sandbox-may2026.json", "DSTU2", "Conformance"),
    ("argonaut-scheduling-bundle-find-response-example.json", "STU3", "Bundle"),
    ("cobalt-epic-stu3-appointment-find-no-visit-type-59200.json", "STU3", "Bundle"),
]


@pytest.mark.parametrize(("name", "version", "resource_type"), REAL_EPIC, ids=[n for n, _, _ in REAL_EPIC])
def test_real_epic_documents_validate_clean(name: str, version: str, resource_type: str) -> None:
    document = epic(name)
    assert document["resourceType"] == resource_type
    issues = validator_for(version).validate(document)
    assert issues == [], f"{name} against FHIR {version}:\n{show(issues)}"


def test_epic_bundles_have_their_entries_checked(r4: FhirValidator) -> None:
    bundle = epic("mh-encounter-search-erXuFYUfucBZaryVksYEcMg3.json")
    assert len(bundle["entry"]) >= 3 and bundle["entry"][2]["resource"]["resourceType"] == "Encounter"
    bundle["entry"][2]["resource"]["status"] = "checked-in-ish"
    bundle["entry"][2]["resource"]["period"]["start"] = "yesterday"
    issues = r4.validate(bundle)
    assert has(issues, "Bundle.entry[2].resource.status", "binding"), show(issues)
    assert has(issues, "Bundle.entry[2].resource.period.start", "format"), show(issues)
    assert all(issue.path.startswith("Bundle.entry[2].resource.") for issue in issues), show(issues)


def test_epic_extensions_are_ordinary_extensions(r4: FhirValidator) -> None:
    patient = epic_patient()
    urls = [ext["url"] for ext in patient["extension"]]
    assert "http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex" in urls
    assert any(url.startswith("http://hl7.org/fhir/us/core/") for url in urls)
    assert r4.validate(patient) == []
    patient["extension"].append(
        {"url": "http://open.epic.com/FHIR/StructureDefinition/extension/calculated-pronouns-to-use-for-text",
         "valueCodeableConcept": {"coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.10.698084.130.657370.19999000",
                                              "code": "she/her"}]}}
    )
    assert r4.validate(patient) == []
    patient["extension"][-1]["valueEpicThing"] = "x"
    issues = r4.validate(patient)
    last = len(patient["extension"]) - 1
    assert has(issues, f"Patient.extension[{last}].valueEpicThing", "additionalProperties"), show(issues)


def test_other_versions_documents_are_not_accepted_as_r4(r4: FhirValidator) -> None:
    # A strict validator, not a permissive one: STU3's acceptUnknown was removed in R4, and
    # DSTU2's Conformance became CapabilityStatement.
    issues = r4.validate(epic("stu3-capabilitystatement-sandbox-may2026.json"))
    assert has(issues, "CapabilityStatement.acceptUnknown", "additionalProperties"), show(issues)
    issues = r4.validate(epic("dstu2-conformance-sandbox-may2026.json"))
    assert [(i.path, i.rule) for i in issues] == [("$.resourceType", "enum")]
    assert "Conformance" in issues[0].message


# ---------------------------------------------------------------------------------------------
# Broken resources: the right path and rule


def test_integer_birth_date(r4: FhirValidator) -> None:
    issues = r4.validate({**epic_patient(), "birthDate": 19870306})
    assert [(i.path, i.rule) for i in issues] == [("Patient.birthDate", "type")]
    assert "string" in issues[0].message and "19870306" in issues[0].message


def test_bad_date_pattern(r4: FhirValidator) -> None:
    issues = r4.validate({**epic_patient(), "birthDate": "06/03/1987"})
    assert [(i.path, i.rule) for i in issues] == [("Patient.birthDate", "format")]
    assert issues[0].message == '"06/03/1987" is not a valid FHIR date'


def test_unknown_property_top_level_and_nested(r4: FhirValidator) -> None:
    patient = epic_patient()
    patient["favoriteColor"] = "blue"
    patient["name"][0]["nickname"] = "Cami"
    issues = r4.validate(patient)
    assert has(issues, "Patient.favoriteColor", "additionalProperties"), show(issues)
    assert has(issues, "Patient.name[0].nickname", "additionalProperties"), show(issues)
    assert len(issues) == 2


def test_gender_code_outside_the_value_set(r4: FhirValidator) -> None:
    issues = r4.validate({**epic_patient(), "gender": "M"})
    assert [(i.path, i.rule) for i in issues] == [("Patient.gender", "binding")]
    assert '"M"' in issues[0].message and "female" in issues[0].message


def test_missing_resource_type(r4: FhirValidator) -> None:
    patient = epic_patient()
    del patient["resourceType"]
    issues = r4.validate(patient)
    assert [(i.path, i.rule) for i in issues] == [("$", "required")]
    assert "resourceType" in issues[0].message


@pytest.mark.parametrize("resource_type", ["Foo", "HumanName", "DomainResource", "patient"])
def test_unknown_resource_type(r4: FhirValidator, resource_type: str) -> None:
    issues = r4.validate({"resourceType": resource_type, "id": "x"})
    assert [(i.path, i.rule) for i in issues] == [("$.resourceType", "enum")]
    assert resource_type in issues[0].message


@pytest.mark.parametrize("value", [42, None, "hello", [], True, 1.5, [{"resourceType": "Patient"}]])
def test_non_object_is_an_issue(r4: FhirValidator, value: object) -> None:
    issues = r4.validate(value)
    assert [(i.path, i.rule) for i in issues] == [("$", "type")]
    assert "JSON object" in issues[0].message


def test_bad_resource_inside_a_bundle(r4: FhirValidator) -> None:
    good = epic_patient()
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 4,
        "entry": [
            {"fullUrl": "https://example.org/Patient/1", "resource": good, "search": {"mode": "match"}},
            {"resource": {**good, "birthDate": 1987}, "search": {"mode": "match"}},
            {"resource": 42},
            {"resource": {"id": "no-type"}},
            {"resource": {"resourceType": "Nope"}},
        ],
    }
    issues = r4.validate(bundle)
    assert has(issues, "Bundle.entry[1].resource.birthDate", "type"), show(issues)
    assert has(issues, "Bundle.entry[2].resource", "type"), show(issues)
    assert has(issues, "Bundle.entry[3].resource", "required"), show(issues)
    assert has(issues, "Bundle.entry[4].resource.resourceType", "enum"), show(issues)
    assert len(issues) == 4, show(issues)
    assert not any(issue.path.startswith("Bundle.entry[0]") for issue in issues)


def test_bundle_shell_errors_are_reported_too(r4: FhirValidator) -> None:
    bundle = {"resourceType": "Bundle", "type": "searchish", "entry": [{"resource": epic_patient(), "score": 1}]}
    issues = r4.validate(bundle)
    assert has(issues, "Bundle.type", "binding"), show(issues)
    assert has(issues, "Bundle.entry[0].score", "additionalProperties"), show(issues)


def test_contained_and_parameters_and_outcome_resources(r4: FhirValidator) -> None:
    patient = epic_patient()
    patient["contained"] = [{"resourceType": "Practitioner", "id": "p1", "gender": "M"}]
    patient["generalPractitioner"] = [{"reference": "#p1"}]
    issues = r4.validate(patient)
    assert [(i.path, i.rule) for i in issues] == [("Patient.contained[0].gender", "binding")]

    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "patient", "resource": {"resourceType": "Patient", "birthDate": "1987-13-01"}},
            {"name": "nested", "part": [{"name": "inner", "resource": {"resourceType": "Patient", "active": "yes"}}]},
        ],
    }
    issues = r4.validate(parameters)
    assert has(issues, "Parameters.parameter[0].resource.birthDate", "format"), show(issues)
    assert has(issues, "Parameters.parameter[1].part[0].resource.active", "type"), show(issues)

    response = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [{"response": {"status": "400", "outcome": {"resourceType": "OperationOutcome", "issue": [{"severity": "bad"}]}}}],
    }
    issues = r4.validate(response)
    assert has(issues, "Bundle.entry[0].response.outcome.issue[0].severity", "binding"), show(issues)


def test_required_elements(r4: FhirValidator) -> None:
    # The schema requires complex 1..1 elements (Encounter.class, Observation.code) ...
    encounter = epic("mh-encounter-search-erXuFYUfucBZaryVksYEcMg3.json")["entry"][0]["resource"]
    del encounter["class"]
    issues = r4.validate(encounter)
    assert [(i.path, i.rule) for i in issues] == [("Encounter.class", "required")]
    assert "class" in issues[0].message
    # ... never primitives, whose _element form may stand in for them; the StructureDefinition
    # rules add them: an Extension without url, an issue without severity.
    issues = r4.validate({"resourceType": "Patient", "extension": [{"valueString": "x"}]})
    assert [(i.path, i.rule) for i in issues] == [("Patient.extension[0].url", "required")]
    issues = r4.validate({"resourceType": "OperationOutcome", "issue": [{"code": "processing"}]})
    assert [(i.path, i.rule) for i in issues] == [("OperationOutcome.issue[0].severity", "required")]
    # the _element form stands in for the value (an extension saying why it is absent)
    absent = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]}
    assert r4.validate({"resourceType": "OperationOutcome", "issue": [{"code": "processing", "_severity": absent}]}) == []


def test_messages_stay_short(r4: FhirValidator) -> None:
    huge = {"text": "x" * 5000, "family": "y" * 5000}
    issues = r4.validate({"resourceType": "Patient", "name": huge, "gender": "z" * 5000})
    assert has(issues, "Patient.name", "type") and has(issues, "Patient.gender", "binding"), show(issues)
    for issue in issues:
        assert len(issue.message) < 200, issue.message
        assert "x" * 100 not in issue.message and "z" * 100 not in issue.message


def test_r4_accepts_4_0_1(r4: FhirValidator) -> None:
    statement = epic("r4-capabilitystatement-sandbox-may2026.json")
    assert statement["fhirVersion"] == "4.0.1"
    assert r4.validate(statement) == []
    issues = r4.validate({**statement, "fhirVersion": "4.0.7"})
    assert [(i.path, i.rule) for i in issues] == [("CapabilityStatement.fhirVersion", "binding")]
    assert r4.validate({"resourceType": "Patient", "extension": [{"url": "http://x", "valueMeta": {"versionId": "1"}}]}) == []


# ---------------------------------------------------------------------------------------------
# STU3 and DSTU2 specifics


def test_stu3_catches_types_codes_and_formats(stu3: FhirValidator) -> None:
    patient = {"resourceType": "Patient", "id": "e1", "gender": "M", "birthDate": "06/03/1987", "active": "true"}
    issues = stu3.validate(patient)
    assert has(issues, "Patient.gender", "binding"), show(issues)
    assert has(issues, "Patient.birthDate", "format"), show(issues)
    assert has(issues, "Patient.active", "type"), show(issues)
    assert '"06/03/1987" is not a valid FHIR date' in show(issues)


def test_stu3_repeating_codes_are_checked_per_item(stu3: FhirValidator) -> None:
    allergy = {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/e1"}, "category": ["food"]}
    assert stu3.validate(allergy) == []
    issues = stu3.validate({**allergy, "category": ["food", "pollen"]})
    assert [(i.path, i.rule) for i in issues] == [("AllergyIntolerance.category[1]", "binding")]


def test_stu3_schema_does_not_flag_unknown_properties(stu3: FhirValidator) -> None:
    # A documented limit of HL7's STU3 schema (allOf, no additionalProperties: false).
    assert stu3.validate({"resourceType": "Patient", "favoriteColor": "blue"}) == []


def test_stu3_bundle_entries_against_their_own_type(stu3: FhirValidator) -> None:
    bundle = epic("cobalt-epic-stu3-appointment-find-no-visit-type-59200.json")
    bundle["entry"][0]["resource"]["issue"][1]["severity"] = "warn"
    issues = stu3.validate(bundle)
    assert [(i.path, i.rule) for i in issues] == [("Bundle.entry[0].resource.issue[1].severity", "binding")]


def test_dstu2_is_a_structural_check(dstu2: FhirValidator) -> None:
    assert dstu2.info.kind == "structural" and not dstu2.info.official
    assert validator_for("R4").info.official and validator_for("STU3").info.official
    assert len(dstu2.resource_types) == 94 and "Conformance" in dstu2.resource_types
    assert "CapabilityStatement" not in dstu2.resource_types
    issues = dstu2.validate({"resourceType": "Patient", "name": [{"family": "Lopez"}], "birthDate": "1987-3-6"})
    assert has(issues, "Patient.name[0].family", "type"), show(issues)  # DSTU2 family is an array
    assert has(issues, "Patient.birthDate", "format"), show(issues)
    issues = dstu2.validate({"resourceType": "CapabilityStatement"})
    assert [(i.path, i.rule) for i in issues] == [("$.resourceType", "enum")]
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"resourceType": "Patient", "gender": "F"}}]}
    issues = dstu2.validate(bundle)
    assert [(i.path, i.rule) for i in issues] == [("Bundle.entry[0].resource.gender", "binding")]


# ---------------------------------------------------------------------------------------------
# Loading, hashes, caching


def test_manifest_pins_every_shipped_file() -> None:
    manifest = json.loads((SCHEMA_DIR / "MANIFEST.json").read_text(encoding="utf-8"))
    assert set(manifest["schemas"]) == {"R4", "STU3", "DSTU2"}
    for version, entry in manifest["schemas"].items():
        info, schema = load_schema(version)
        assert info.sha256 == entry["sha256"] and len(info.sha256) == 64
        assert (SCHEMA_DIR / entry["file"]).is_file()
        assert entry["source"] and entry["license"] and entry["fhir_version"]
        assert isinstance(schema["definitions"], dict)


def _copy_schemas(tmp_path: Path) -> Path:
    target = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, target)
    return target


def test_tampered_schema_is_refused(tmp_path: Path) -> None:
    schemas = _copy_schemas(tmp_path)
    assert FhirValidator("R4", schema_dir=schemas).validate(epic_patient()) == []  # the copy itself is fine

    gz = schemas / "r4" / "fhir.schema.json.gz"
    text = gzip.decompress(gz.read_bytes()).decode("utf-8")
    tampered = text.replace('"male",', '"male", "M",', 1)
    assert tampered != text
    gz.write_bytes(gzip.compress(tampered.encode("utf-8")))
    with pytest.raises(SchemaIntegrityError, match="sha256") as caught:
        FhirValidator("R4", schema_dir=schemas)
    assert "r4/fhir.schema.json.gz" in str(caught.value) and "R4" in str(caught.value)

    plain = schemas / "dstu2" / "structural.schema.json"
    plain.write_text(plain.read_text(encoding="utf-8").replace('"maiden"', '"maidenly"'), encoding="utf-8")
    with pytest.raises(SchemaIntegrityError, match="sha256"):
        load_schema("DSTU2", schemas)


def test_missing_or_corrupt_schema_file_is_refused(tmp_path: Path) -> None:
    schemas = _copy_schemas(tmp_path)
    (schemas / "stu3" / "fhir.schema.json.gz").write_bytes(b"not gzip")
    with pytest.raises(SchemaIntegrityError, match="cannot read"):
        FhirValidator("STU3", schema_dir=schemas)
    (schemas / "stu3" / "fhir.schema.json.gz").unlink()
    with pytest.raises(SchemaIntegrityError, match="cannot read"):
        FhirValidator("STU3", schema_dir=schemas)
    (schemas / "MANIFEST.json").unlink()
    with pytest.raises(SchemaIntegrityError, match="manifest"):
        FhirValidator("R4", schema_dir=schemas)


def test_versions_and_caching() -> None:
    assert normalize_version("r4") == "R4" and normalize_version("DSTU3") == "STU3"
    assert validator_for("r4") is validator_for("R4")
    with pytest.raises(ValueError, match="R5"):
        validator_for("R5")
    fresh = FhirValidator("R4")
    assert fresh.compiled_types() == frozenset()
    fresh.validate({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": epic_patient()}]})
    assert fresh.compiled_types() == {"Bundle", "Patient"}


# ---------------------------------------------------------------------------------------------
# Generated Patients, built from the R4 schema's own patterns and enums

_, _R4_SCHEMA = load_schema("R4")
_DEFS = _R4_SCHEMA["definitions"]
_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
# FHIR strings: any non-whitespace character plus space, CR, LF and tab. Category Zs is left out on
# purpose: the schema's string pattern rejects a no-break space (U+00A0).
_TEXT_ALPHABET = st.characters(categories=("L", "N", "P", "S"), include_characters=" \r\n\t")


def _pattern(name: str, alphabet: st.SearchStrategy[str] = _ASCII) -> st.SearchStrategy[str]:
    return st.from_regex(_DEFS[name]["pattern"], fullmatch=True, alphabet=alphabet)


def _enum(type_name: str, prop: str) -> st.SearchStrategy[str]:
    return st.sampled_from(_DEFS[type_name]["properties"][prop]["enum"])


# Any non-empty prefix of a FHIR string is a FHIR string: cut long draws instead of discarding them.
_strings = st.from_regex(_DEFS["string"]["pattern"], fullmatch=True, alphabet=_TEXT_ALPHABET).map(lambda s: s[:40])
_ids = _pattern("id")
_uris = _pattern("uri").filter(bool)
_codes = _pattern("code")
# FHIR's date pattern allows 30 February; the calendar does not.
_dates = _pattern("date").filter(lambda d: not impossible_date(d))
_datetimes = _pattern("dateTime").filter(lambda d: not impossible_date(d))

_codings = st.fixed_dictionaries(
    {"system": _uris, "code": _codes}, optional={"display": _strings, "version": _strings}
)
_concepts = st.fixed_dictionaries({}, optional={"coding": st.lists(_codings, min_size=1, max_size=2), "text": _strings}).filter(bool)
def _in_order(period: dict[str, str]) -> dict[str, str]:
    """per-1: a Period starts before it ends."""
    if "start" in period and "end" in period and period_out_of_order(period["start"], period["end"]):
        return {"start": period["end"], "end": period["start"]}
    return period


_periods = st.fixed_dictionaries({}, optional={"start": _datetimes, "end": _datetimes}).filter(bool).map(_in_order)
_identifiers = st.fixed_dictionaries(
    {"system": st.sampled_from(["urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.0", "http://hl7.org/fhir/sid/us-ssn"]),
     "value": _strings},
    optional={"use": _enum("Identifier", "use"), "type": _concepts},
)
_names = st.fixed_dictionaries(
    {"family": _strings},
    optional={
        "use": _enum("HumanName", "use"),
        "text": _strings,
        "given": st.lists(_strings, min_size=1, max_size=3),
        "period": _periods,
    },
)
_telecoms = st.fixed_dictionaries(
    {"system": _enum("ContactPoint", "system"), "value": _strings},
    optional={"use": _enum("ContactPoint", "use"), "rank": st.integers(1, 5)},
)
_addresses = st.fixed_dictionaries(
    {},
    optional={
        "use": _enum("Address", "use"),
        "line": st.lists(_strings, min_size=1, max_size=2),
        "city": _strings,
        "state": st.sampled_from(["WI", "MN", "CA"]),
        "postalCode": _pattern("code"),
        "country": st.just("US"),
    },
).filter(bool)
_epic_extensions = st.one_of(
    st.fixed_dictionaries(
        {"url": st.just("http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex"),
         "valueCodeableConcept": _concepts}
    ),
    st.fixed_dictionaries(
        {"url": st.just("http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"),
         "valueCode": _enum("Patient", "gender").map(lambda g: g[0].upper())}
    ),
)
_references = st.fixed_dictionaries(
    {"reference": _ids.map(lambda i: f"Practitioner/{i}")}, optional={"display": _strings, "type": st.just("Practitioner")}
)

patients = st.fixed_dictionaries(
    {"resourceType": st.just("Patient"), "id": _ids},
    optional={
        "active": st.booleans(),
        "identifier": st.lists(_identifiers, min_size=1, max_size=3),
        "name": st.lists(_names, min_size=1, max_size=2),
        "telecom": st.lists(_telecoms, min_size=1, max_size=2),
        "gender": _enum("Patient", "gender"),
        "birthDate": _dates,
        "deceasedBoolean": st.booleans(),
        "address": st.lists(_addresses, min_size=1, max_size=2),
        "maritalStatus": _concepts,
        "multipleBirthInteger": st.integers(1, 8),
        "extension": st.lists(_epic_extensions, min_size=1, max_size=2),
        "generalPractitioner": st.lists(_references, min_size=1, max_size=1),
    },
)

_PATIENT_PROPERTIES = set(_DEFS["Patient"]["properties"])
# (how to corrupt one field, the path and rule the validator must report)
_CORRUPTIONS: list[tuple[str, Any, str, str]] = [
    ("birthDate", 19870306, "Patient.birthDate", "type"),
    ("birthDate", "06/03/1987", "Patient.birthDate", "format"),
    ("birthDate", "1987-13-01", "Patient.birthDate", "format"),
    ("gender", "M", "Patient.gender", "binding"),
    ("active", "true", "Patient.active", "type"),
    ("id", "has space", "Patient.id", "format"),
    ("name", {"family": "Lopez"}, "Patient.name", "type"),
    ("telecom", [{"system": "pigeon", "value": "coo"}], "Patient.telecom[0].system", "binding"),
    ("multipleBirthInteger", "2", "Patient.multipleBirthInteger", "type"),
    ("favoriteColor", "blue", "Patient.favoriteColor", "additionalProperties"),
    ("resourceType", None, "$", "required"),
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patient=patients)
def test_generated_patients_validate_clean(patient: dict[str, Any]) -> None:
    issues = validator_for("R4").validate(patient)
    assert issues == [], f"{json.dumps(patient)[:500]}\n{show(issues)}"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patient=patients, corruption=st.sampled_from(_CORRUPTIONS))
def test_generated_patients_with_one_field_corrupted_do_not(
    patient: dict[str, Any], corruption: tuple[str, Any, str, str]
) -> None:
    field, value, path, rule = corruption
    broken = dict(patient)
    if field == "resourceType":
        del broken["resourceType"]
    else:
        assert field in _PATIENT_PROPERTIES or field == "favoriteColor"
        broken[field] = value
    issues = validator_for("R4").validate(broken)
    assert has(issues, path, rule), f"{field}={value!r}: {show(issues)}"
    assert all(issue.path == path for issue in issues), show(issues)
