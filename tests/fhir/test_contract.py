"""The app's data contract: the format, the path language, the tally of filled and never-filled paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.fhir.contract import CONTRACTS_DIR, ContractError, ContractTally, compile_path, evaluate, load_contract


CATALOG = Path(__file__).resolve().parents[2] / "harness" / "catalog" / "data"
MRN = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.0"


def catalog_names() -> list[str]:
    data = json.loads((CATALOG / "apis.json").read_text(encoding="utf-8"))
    apis = data["apis"] if isinstance(data, dict) else data
    return [a["name"] for a in apis]


def values(path: str, resource: dict[str, Any]) -> list[Any]:
    return evaluate(compile_path(path)[1], resource)


def test_the_careforce_phoenix_contract_names_only_apis_of_its_set() -> None:
    contract = load_contract("careforce-phoenix", known_apis=catalog_names())
    assert contract.name == "careforce-phoenix" and contract.source == CONTRACTS_DIR / "careforce-phoenix.toml"
    import tomllib

    requested = {a for g in tomllib.loads((CATALOG / "sets" / "careforce-phoenix.toml").read_text())["group"] for a in g["apis"]}
    assert set(contract.apis) <= requested
    assert len(contract.apis) >= 100
    assert [p.text for p in contract.paths_for("Coverage.Search (Patient Insurance Information) (R4)")][:3] == [
        "Coverage.status", "Coverage.payor", "Coverage.subscriberId"]
    mrn = contract.paths_for("Patient.Read (Demographics) (R4)")[0]
    assert mrn.text == f"Patient.identifier.where(system='{MRN}')" and mrn.why


def test_the_path_language() -> None:
    patient = {"resourceType": "Patient",
               "identifier": [{"system": MRN, "value": "203713"}, {"system": "urn:other", "value": "x"}],
               "telecom": [{"system": "phone", "use": "home", "value": "608-555-0100"}, {"system": "email", "value": ""}],
               "extension": [{"url": "http://x.org/race", "extension": [{"url": "text", "valueString": "Asian"}]}],
               "deceasedBoolean": False}
    assert values(f"Patient.identifier.where(system='{MRN}')", patient) == [patient["identifier"][0]]
    assert values(f"Patient.identifier.where(system='{MRN}').value", patient) == ["203713"]
    assert values("Patient.identifier.where(system != 'urn:other').value", patient) == ["203713"]
    assert values("Patient.telecom.where(system='phone' and use='home').value", patient) == ["608-555-0100"]
    assert values("Patient.telecom.where(system='email').value", patient) == []  # "" is not filled
    assert values("Patient.extension('http://x.org/race').extension('text').value[x]", patient) == ["Asian"]
    assert values("Patient.deceased[x]", patient) == [False] and values("Patient.deceased", patient) == [False]
    assert values("Patient.name.exists()", patient) == []
    observation = {"resourceType": "Observation", "valueQuantity": {"value": 7, "unit": "kg"}}
    assert values("Observation.value.ofType(Quantity).unit", observation) == ["kg"]
    assert values("Observation.value.ofType(string)", observation) == []
    assert values("Observation.valueQuantity.value", observation) == [7]
    for bad, why in [("name.family", "resource type"), ("Patient..name", "cannot read"),
                     ("Patient.where(system=phone)", "literal"), ("Patient.extension(url)", "quoted url"),
                     ("Patient.name.exists().family", "ends a path"), ("Patient.where(system='x'", "not closed"),
                     ("Patient", "at least one element")]:
        with pytest.raises(ValueError, match=why):
            compile_path(bad)


def _served_coverages(*faults: str) -> list[dict[str, Any]]:
    """Every Coverage a sandbox with ``faults`` serves, over HTTP (one search, every page)."""
    from tests.sandbox.sandbox_helpers import served

    with served(*faults) as (_, http):
        bundle = http.get("/api/FHIR/R4/Coverage", params={"_count": "100"}).json()
    return [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def test_a_path_never_filled_is_reported_and_filled_ones_counted() -> None:
    contract = load_contract("careforce-phoenix")
    api = "Coverage.Search (Patient Insurance Information) (R4)"
    group = "Coverage.class.where(type.coding.code='group')"
    # the sandbox fills every path; served with Coverage.class left out, it is a tenant that never fills the group
    filled = _served_coverages()
    coverages = _served_coverages("fhir-drop-element:Coverage=class")
    assert len(coverages) == len(filled) >= 5 and all("class" in c for c in filled)
    assert not any("class" in c for c in coverages)
    tally = ContractTally(contract)
    tally.add_all(api, coverages)
    tally.add(api, {"resourceType": "OperationOutcome", "issue": []})  # not the API's type: ignored
    report = {c.path: c for c in tally.report()}
    assert report["Coverage.payor"].filled == len(coverages) == report["Coverage.payor"].resources
    never = [str(c) for c in tally.never_filled()]
    assert never == [f"{api}: {group} never filled in {len(coverages)} resources"]
    # once a tenant fills it, it is no longer reported
    fresh = ContractTally(contract)
    fresh.add_all(api, filled)
    assert not fresh.never_filled() and {c.path: c.filled for c in fresh.report()}[group] == len(filled)
    payorless = ContractTally(contract)
    payorless.add_all(api, [{k: v for k, v in c.items() if k != "payor"} for c in coverages])
    assert any(c.path == "Coverage.payor" and c.never for c in payorless.never_filled())
    # an API nothing was seen for is not reported as never filled
    assert all(c.api == api for c in tally.never_filled())


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_contract_files_get_one_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="no such data contract .*careforce-phoenix"):
        load_contract("no-such-set")
    cases = [
        ("name = ", "cannot read the data contract"),
        ("name = 'x'", "no \\[\\[reads\\]\\] tables"),
        ("[[reads]]\napis = []\npaths = ['Patient.name']", "'apis' must be a non-empty list"),
        ("[[reads]]\napis = ['Patient.Read (Demographics) (R4)']\npaths = []", "'paths' must be a non-empty list"),
        ("[[reads]]\napis = ['Patient.Read (Demographics) (R4)']\npaths = ['Patient.name.where(x)']", "path 'Patient.name.where\\(x\\)'"),
        ("[[reads]]\napis = ['Patient.Read (Demographics) (R4)']\npaths = ['Coverage.payor']", "returns Patient"),
        ("[[reads]]\napis = ['GetWaitTimes']\npaths = ['Patient.name']", "not a FHIR API"),
        ("[[reads]]\napis = ['Patient.Reed (R4)']\npaths = ['Patient.name']", "unknown Epic API 'Patient.Reed \\(R4\\)'"),
        ("[[reads]]\napis = ['Patient.Read (Demographics) (R4)']\npaths = [3]", "each path is a string"),
    ]
    for text, message in cases:
        path = _write(tmp_path, text)
        with pytest.raises(ContractError, match=message) as caught:
            load_contract(path, known_apis=catalog_names())
        assert str(path) in str(caught.value)
    good = _write(tmp_path, "[[reads]]\napis = ['Patient.Read (Demographics) (R4)']\n"
                            "paths = ['Patient.name', { path = 'Patient.birthDate', why = 'age' }]\n")
    contract = load_contract(good, known_apis=catalog_names())
    assert [(p.text, p.why) for p in contract.paths_for("Patient.Read (Demographics) (R4)")] == [
        ("Patient.name", ""), ("Patient.birthDate", "age")]
