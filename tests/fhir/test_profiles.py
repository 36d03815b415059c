"""US Core profiles a tenant claims: the right profile chosen, a claim not met reported with its
path, Must Support elements never filled reported, the shipped profile data pinned."""

from __future__ import annotations

import copy
import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.fhir.profiles import (
    MustSupportTally,
    ProfileError,
    ProfileSet,
    ProfileValidator,
    claimed_profiles,
    matches_pattern,
)
from harness.fhir.validation import SCHEMA_DIR, SchemaIntegrityError, ValidationIssue

from fhir_corpus import EPIC, sandbox_r4, us_core_examples

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"


def show(issues: list[ValidationIssue]) -> str:
    return "\n".join(f"{i} value={i.value}" for i in issues) or "(no issues)"


@pytest.fixture(scope="module")
def epic_claims() -> dict[str, tuple[str, ...]]:
    statement = json.loads((EPIC / "r4-capabilitystatement-sandbox-may2026.json").read_text(encoding="utf-8"))
    return claimed_profiles(statement)


@pytest.fixture(scope="module")
def checker(epic_claims: dict[str, tuple[str, ...]]) -> ProfileValidator:
    return ProfileValidator(epic_claims)


@pytest.fixture(scope="module")
def examples() -> dict[str, dict[str, Any]]:
    return {f"{r['resourceType']}/{r['id']}": r for _, r in us_core_examples()}


def test_epic_claims_47_us_core_6_1_0_profiles(epic_claims: dict[str, tuple[str, ...]], checker: ProfileValidator) -> None:
    assert sum(len(p) for p in epic_claims.values()) == 47
    assert all(c.endswith("|6.1.0") and c.startswith(US_CORE) for cs in epic_claims.values() for c in cs)
    assert checker.unknown == []
    assert sum(len(p) for p in checker.claims.values()) == 47


def test_a_vital_signs_observation_and_a_lab_observation_get_their_own_profiles(
        checker: ProfileValidator, examples: dict[str, dict[str, Any]]) -> None:
    heart_rate = {p.id for p in checker.profiles_for(examples["Observation/heart-rate"])}
    assert {"us-core-heart-rate", "us-core-vital-signs"} <= heart_rate
    assert "us-core-observation-lab" not in heart_rate and "us-core-body-weight" not in heart_rate
    glucose = {p.id for p in checker.profiles_for(examples["Observation/serum-glucose"])}
    assert "us-core-observation-lab" in glucose
    assert not glucose & {"us-core-vital-signs", "us-core-heart-rate"}
    weight = {p.id for p in checker.profiles_for(examples["Observation/weight"])}
    assert "us-core-body-weight" in weight and "us-core-heart-rate" not in weight
    smoker = {p.id for p in checker.profiles_for(examples["Observation/some-day-smoker"])}
    assert "us-core-smokingstatus" in smoker and "us-core-vital-signs" not in smoker
    problem = {p.id for p in checker.profiles_for(examples["Condition/condition-duodenal-ulcer"])}
    diagnosis = {p.id for p in checker.profiles_for(examples["Condition/encounter-diagnosis-example1"])}
    assert problem == {"us-core-condition-problems-health-concerns"}
    assert diagnosis == {"us-core-condition-encounter-diagnosis"}


def test_the_us_core_examples_meet_the_profiles_they_are_meant_for(
        checker: ProfileValidator, examples: dict[str, dict[str, Any]]) -> None:
    for name in ("Patient/example", "Observation/heart-rate", "Observation/blood-pressure", "Observation/serum-glucose",
                 "Condition/encounter-diagnosis-example1", "Encounter/example-1", "Organization/acme-lab",
                 "Practitioner/practitioner-1", "Coverage/coverage-example", "Observation/some-day-smoker"):
        assert checker.validate(examples[name]) == [], f"{name}:\n{show(checker.validate(examples[name]))}"


def test_a_claimed_profile_not_met_is_reported_with_its_path(
        checker: ProfileValidator, examples: dict[str, dict[str, Any]]) -> None:
    patient = copy.deepcopy(examples["Patient/example"])
    del patient["identifier"]
    issues = checker.validate(patient)
    assert [(i.path, i.rule) for i in issues] == [("Patient.identifier", "us-core-patient|6.1.0")], show(issues)
    assert "identifier" in issues[0].message and "US Core Patient" in issues[0].message

    patient = copy.deepcopy(examples["Patient/example"])
    patient["identifier"][0].pop("system")
    issues = checker.validate(patient)
    assert ("Patient.identifier[0].system", "us-core-patient|6.1.0") in {(i.path, i.rule) for i in issues}, show(issues)

    heart_rate = copy.deepcopy(examples["Observation/heart-rate"])
    heart_rate["valueQuantity"]["code"] = "beats"
    issues = checker.validate(heart_rate)
    assert ("Observation.valueQuantity.code", "us-core-heart-rate|6.1.0") in {(i.path, i.rule) for i in issues}, show(issues)
    assert any(i.value == '"beats"' for i in issues)

    pressure = copy.deepcopy(examples["Observation/blood-pressure"])
    pressure["component"] = [c for c in pressure["component"] if c["code"]["coding"][0]["code"] != "8462-4"]
    issues = checker.validate(pressure)
    assert any(i.rule == "us-core-blood-pressure|6.1.0" and i.path == "Observation.component"
               and "diastolic" in i.message for i in issues), show(issues)

    condition = copy.deepcopy(examples["Condition/encounter-diagnosis-example1"])
    condition["subject"] = {"reference": "Group/g1"}
    issues = checker.validate(condition)
    assert ("Condition.subject.reference", "us-core-condition-encounter-diagnosis|6.1.0") in {
        (i.path, i.rule) for i in issues}, show(issues)


def test_extensible_bindings_warn_and_required_ones_fail(checker: ProfileValidator, examples: dict[str, dict[str, Any]]) -> None:
    heart_rate = copy.deepcopy(examples["Observation/heart-rate"])
    heart_rate["status"] = "preliminary"
    assert checker.validate(heart_rate) == []
    vital = copy.deepcopy(examples["Observation/heart-rate"])
    vital["component"] = [{"code": {"coding": [{"system": "http://loinc.org", "code": "0000-0"}]}, "valueString": "x"}]
    issues = checker.validate(vital, warnings=True)
    assert any(i.severity == "warning" and i.path == "Observation.component[0].code" for i in issues), show(issues)
    assert checker.validate(vital) == []


def test_must_support_elements_never_filled_are_reported(checker: ProfileValidator, examples: dict[str, dict[str, Any]]) -> None:
    race = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
    tally = MustSupportTally(checker)
    for i in range(21):
        patient = copy.deepcopy(examples["Patient/example"])
        patient["id"] = f"p{i}"
        patient["extension"] = [e for e in patient.get("extension", []) if e.get("url") != race]
        tally.add(patient)
    gaps = [str(g) for g in tally.gaps()]
    assert "Patient: us-core-race never present in 21 resources (us-core-patient|6.1.0)" in gaps, gaps
    assert not any("us-core-ethnicity" in g for g in gaps), gaps  # the example has it
    coverage = {element: (filled, seen) for rule, element, filled, seen in tally.coverage()}
    assert coverage["us-core-ethnicity"] == (21, 21) and coverage["us-core-race"] == (0, 21)

    with_race = MustSupportTally(checker)
    with_race.add(examples["Patient/example"])
    assert not any("us-core-race" in str(g) for g in with_race.gaps())


def test_the_sandbox_meets_the_profiles_epic_claims(checker: ProfileValidator) -> None:
    for name, resource in sandbox_r4():
        assert checker.validate(resource) == [], f"{name}:\n{show(checker.validate(resource))}"


def test_claims_outside_us_core_are_kept_apart() -> None:
    checker = ProfileValidator({"Patient": [f"{US_CORE}us-core-patient|6.1.0", "http://example.org/fhir/StructureDefinition/mine",
                                            f"{US_CORE}us-core-patient|9.9.9"],
                                "Observation": [f"{US_CORE}us-core-patient"]})
    assert [p.rule for p in checker.claims["Patient"]] == ["us-core-patient|6.1.0"]
    assert len(checker.unknown) == 3 and "Observation" not in checker.claims
    with pytest.raises(ProfileError, match="9.9.9"):
        ProfileSet("9.9.9")


def test_us_core_3_1_1_and_7_0_0_are_shipped_too() -> None:
    for version, count in (("3.1.1", 20), ("7.0.0", 50)):
        checker = ProfileValidator({"Patient": [f"{US_CORE}us-core-patient|{version}"]})
        assert checker.claims["Patient"][0].rule == f"us-core-patient|{version}"
        assert len(ProfileSet(version).profiles) >= count
        assert checker.validate({"resourceType": "Patient", "name": [{"family": "x"}], "gender": "female"})[0].path \
            == "Patient.identifier"


def test_pattern_matching() -> None:
    pattern = {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}
    assert matches_pattern({"coding": [{"system": "x", "code": "y"}, {"system": "http://loinc.org", "code": "8867-4",
                                                                          "display": "HR"}], "text": "t"}, pattern)
    assert not matches_pattern({"coding": [{"system": "http://loinc.org", "code": "8310-5"}]}, pattern)
    assert not matches_pattern("8867-4", pattern)


def test_tampered_profile_data_is_refused(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, schemas)
    target = schemas / "us-core" / "us-core-6.1.0.json.gz"
    text = gzip.decompress(target.read_bytes()).decode("utf-8")
    target.write_bytes(gzip.compress(text.replace('"min":1', '"min":0', 1).encode("utf-8")))
    with pytest.raises(SchemaIntegrityError, match="sha256") as caught:
        ProfileSet("6.1.0", schemas)
    assert "us-core-6.1.0.json.gz" in str(caught.value)
