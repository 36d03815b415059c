"""The sandbox serves valid FHIR that meets the US Core profiles it claims, fills every Must Support
element of them and every path the app's data contract reads; and the data faults take exactly one
element away (a Must Support element, a contract path, an element a claimed profile requires).

Judged with the harness's own validators, over real HTTP: what the sandbox serves, not what it stores.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import httpx
import pytest
from sandbox_helpers import served

from harness.fhir.contract import ContractTally, load_contract
from harness.fhir.profiles import MustSupportTally, ProfileValidator
from harness.fhir.validation import validator_for
from harness.sandbox.faults.fhir import US_CORE_REQUIRED
from harness.sandbox.population import default_population

VERSIONS = ("R4", "STU3", "DSTU2")
CONTRACT = "careforce-phoenix"


def fetch_all(http: httpx.Client, version: str, resource_type: str) -> list[dict[str, Any]]:
    """Every resource of a type, as the sandbox serves it: a search by every id (so that Patient's
    demographics rule is met), or a read of each where the client may only read the type."""
    wanted = [r["id"] for r in default_population().of_type(version, resource_type)]
    found: list[dict[str, Any]] = []
    for start in range(0, len(wanted), 40):
        answer = http.get(f"/api/FHIR/{version}/{resource_type}",
                          params={"_id": ",".join(wanted[start:start + 40]), "_count": "1000"})
        if answer.status_code == 403:  # Endpoint, Schedule, Slot: read scopes only
            found += [http.get(f"/api/FHIR/{version}/{resource_type}/{rid}").json() for rid in wanted]
            break
        found += [e["resource"] for e in answer.json().get("entry", ()) if e.get("search", {}).get("mode") == "match"]
    assert sorted(r["id"] for r in found) == sorted(wanted), (version, resource_type)
    return found


def served_population(http: httpx.Client, version: str) -> dict[str, list[dict[str, Any]]]:
    return {t: fetch_all(http, version, t) for t in default_population().types(version)}


@pytest.fixture(scope="module")
def population() -> Iterator[dict[str, dict[str, list[dict[str, Any]]]]]:
    with served() as (_, http):
        yield {version: served_population(http, version) for version in VERSIONS}


@lru_cache(maxsize=1)
def checker() -> ProfileValidator:
    from harness.sandbox import documents

    return ProfileValidator.from_capability_statement(documents.capability_statement("R4"))


def test_the_sandbox_claims_the_47_us_core_profiles_epic_claims() -> None:
    claimed = sum(len(p) for p in checker().claims.values())
    assert claimed == 47 and not checker().unknown


def test_every_served_resource_is_valid_fhir(population) -> None:
    counts = {}
    for version, by_type in population.items():
        validator = validator_for(version)
        for resource_type, resources in by_type.items():
            assert len(resources) == len(default_population().of_type(version, resource_type)), resource_type
            for resource in resources:
                assert validator.validate(resource) == [], (version, resource_type, resource["id"])
        counts[version] = sum(len(r) for r in by_type.values())
    assert counts["R4"] >= 340 and counts["STU3"] >= 280 and counts["DSTU2"] == 42, counts


def test_every_served_r4_resource_meets_the_profiles_claimed_for_it(population) -> None:
    profiled = 0
    for resources in population["R4"].values():
        for resource in resources:
            profiled += bool(checker().profiles_for(resource))
            assert checker().validate(resource) == [], (resource["resourceType"], resource["id"])
    assert profiled >= 140


def test_no_must_support_element_is_left_unfilled(population) -> None:
    tally = MustSupportTally(checker())
    for resources in population["R4"].values():
        tally.add_all(resources)
    assert tally.gaps() == []
    filled = {(rule, element) for rule, element, count, _ in tally.coverage() if count}
    for extension in ("us-core-race", "us-core-ethnicity", "us-core-tribal-affiliation", "us-core-sex",
                      "us-core-genderIdentity"):
        assert ("us-core-patient|6.1.0", extension) in filled
    for rule, element in [("us-core-relatedperson|6.1.0", "RelatedPerson.address"),
                          ("us-core-coverage|6.1.0", "Coverage.class"),
                          ("us-core-documentreference|6.1.0", "DocumentReference.identifier"),
                          ("us-core-encounter|6.1.0", "Encounter.reasonReference"),
                          ("us-core-encounter|6.1.0", "Encounter.hospitalization"),
                          ("us-core-practitionerrole|6.1.0", "PractitionerRole.endpoint"),
                          ("us-core-practitioner|6.1.0", "Practitioner.address")]:
        assert (rule, element) in filled, (rule, element)


def _contract_tally(population: dict[str, dict[str, list[dict[str, Any]]]]) -> ContractTally:
    contract = load_contract(CONTRACT)
    tally = ContractTally(contract)
    for api in contract.apis:
        version = re.search(r"\((R4|STU3|DSTU2)\)$", api)
        assert version, api
        tally.add_all(api, population[version.group(1)].get(api.split(".")[0], []))
    return tally


def test_every_path_the_app_reads_is_filled(population) -> None:
    tally = _contract_tally(population)
    assert [str(c) for c in tally.never_filled()] == []
    assert all(c.resources for c in tally.report()), [str(c) for c in tally.report() if not c.resources]
    report = {(c.api, c.path): c for c in tally.report()}
    for api, path in [("Coverage.Search (Patient Insurance Information) (R4)",
                       "Coverage.class.where(type.coding.code='group')"),
                      ("Coverage.Search (Patient Insurance Information) (STU3)", "Coverage.grouping.group"),
                      ("Location.Read (STU3)", "Location.hoursOfOperation"),
                      ("Location.Search (Organizational Directory) (R4)", "Location.position"),
                      ("Practitioner.Read (DSTU2)", "Practitioner.qualification"),
                      ("Practitioner.Read (DSTU2)", "Practitioner.communication"),
                      ("PractitionerRole.Read (STU3)", "PractitionerRole.availableTime"),
                      ("ServiceRequest.Search (Orders) (R4)", "ServiceRequest.occurrence[x]"),
                      ("Patient.Read (DSTU2)", "Patient.careProvider"),
                      ("Appointment.Read (Appointments) (R4)", "Appointment.comment")]:
        assert report[(api, path)].filled == report[(api, path)].resources, (api, path)


# --- the data faults --------------------------------------------------------------------------


def test_drop_element_leaves_one_path_out_of_one_type_in_every_version() -> None:
    with served("fhir-drop-element:Location=position", "fhir-drop-element:ServiceRequest=occurrence[x]",
                "fhir-drop-element:Patient=Patient.name.family") as (_, http):
        population = {v: served_population(http, v) for v in VERSIONS}
    never = {(c.api.split(".")[0], c.path) for c in _contract_tally(population).never_filled()}
    assert never == {("Location", "Location.position"), ("ServiceRequest", "ServiceRequest.occurrence[x]"),
                     ("Patient", "Patient.name.family")}
    for version in VERSIONS:
        for resources in population[version].values():
            for resource in resources:
                assert validator_for(version).validate(resource) == [], (version, resource["id"])
    locations = population["STU3"]["Location"]
    assert locations and all("position" not in r and "hoursOfOperation" in r for r in locations)
    assert all(name.get("given") and "family" not in name for p in population["DSTU2"]["Patient"]
               for name in p["name"])


def test_drop_element_of_a_must_support_extension_is_a_must_support_gap() -> None:
    with served("fhir-drop-element:Patient=extension", "fhir-drop-element:Encounter=hospitalization") as (_, http):
        patients, encounters = fetch_all(http, "R4", "Patient"), fetch_all(http, "R4", "Encounter")
        practitioners = fetch_all(http, "R4", "Practitioner")
    tally = MustSupportTally(checker())
    tally.add_all(patients + encounters + practitioners)
    gaps = sorted(g.element for g in tally.gaps())
    assert gaps == ["Encounter.hospitalization", "us-core-ethnicity", "us-core-genderIdentity", "us-core-race",
                    "us-core-sex", "us-core-tribal-affiliation"]
    assert all(checker().validate(r) == [] for r in patients + encounters)  # optional elements: still met


@pytest.mark.parametrize("resource_type", sorted(US_CORE_REQUIRED))
def test_profile_unmet_breaks_the_claimed_profile_of_that_type_only(resource_type) -> None:
    element = US_CORE_REQUIRED[resource_type]
    with served(f"fhir-profile-unmet:{resource_type}") as (_, http):
        broken = fetch_all(http, "R4", resource_type)
        untouched = fetch_all(http, "R4", "Encounter" if resource_type != "Encounter" else "Patient")
    assert broken and all(element not in r for r in broken)
    for resource in broken:
        assert validator_for("R4").validate(resource) == []  # valid FHIR R4 ...
        issues = checker().validate(resource)  # ... that does not meet its US Core profile
        assert issues and {i.path for i in issues} == {f"{resource_type}.{element}"}, issues
        assert all(i.rule == f"us-core-{resource_type.lower()}|6.1.0" for i in issues)
    assert all(checker().validate(r) == [] for r in untouched)


def test_data_faults_refuse_what_they_cannot_do() -> None:
    from harness.sandbox import FaultError, default_settings

    with pytest.raises(FaultError, match="not an element path"):
        default_settings(["fhir-drop-element:Patient=name..family"])
    with pytest.raises(FaultError, match="not a type with a US Core element"):
        default_settings(["fhir-profile-unmet:Location"])
    assert default_settings(["fhir-profile-unmet:Patient"]).faults == frozenset({"fhir-profile-unmet:Patient"})
