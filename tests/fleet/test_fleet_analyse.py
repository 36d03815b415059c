"""What one tenant's documents say: coverage, readiness, and a shape fingerprint that ignores what
changes on every fetch."""

from __future__ import annotations

import copy

import pytest

from harness.catalog import load_named_set
from harness.coverage import declared
from harness.fleet.analyse import coverage, fhir_release, fingerprint, readiness, shape
from harness.sandbox import documents


@pytest.fixture(scope="module")
def phoenix():
    return load_named_set("careforce-phoenix")


def r4() -> dict:
    return documents.capability_statement("R4")


def drop(statement: dict, *types: str) -> dict:
    out = copy.deepcopy(statement)
    out["rest"][0]["resource"] = [r for r in out["rest"][0]["resource"] if r["type"] not in types]
    return out


def test_coverage_counts_the_tenants_fhir_version_only(phoenix):
    cov = coverage(phoenix, "R4", r4())
    versions = [a.version for a in phoenix.apis]
    assert cov.requested == len(phoenix.apis) == 149
    assert cov.judged == versions.count("R4")
    assert cov.other_version == versions.count("STU3") + versions.count("DSTU2")
    assert cov.not_fhir == sum(1 for a in phoenix.apis if not a.is_fhir)
    assert cov.judged == cov.declared + len(cov.missing) + len(cov.unknown)
    assert cov.missing == () and cov.full
    # Epic lists no $next-question and friends: unknown, not missing
    assert "Questionnaire.$next-question (R4)" in cov.unknown


def test_coverage_agrees_with_declared_api_by_api(phoenix):
    statement = drop(r4(), "Appointment", "Claim", "Coverage")
    cov = coverage(phoenix, "R4", statement)
    expected_missing = [a.name for a in phoenix.apis if a.is_fhir and a.version == "R4"
                        and declared(a, statement).value is False]
    assert list(cov.missing) == expected_missing
    assert "Appointment.Read (Appointments) (R4)" in cov.missing
    assert "Coverage.Search (Outside Record) (R4)" in cov.missing
    assert not cov.full


def test_no_statement_no_coverage(phoenix):
    assert coverage(phoenix, "R4", None) is None
    assert coverage(phoenix, "R4", {"resourceType": "OperationOutcome"}) is None


@pytest.mark.parametrize("fhir_version, release", [("4.0.1", "R4"), ("4.0.0", "R4"), ("3.0.1", "STU3"),
                                                    ("1.0.2", "DSTU2"), ("5.0.0", None), (None, None)])
def test_fhir_release(fhir_version, release):
    assert fhir_release(fhir_version) == release


def test_readiness_of_epic_sandbox_smart_configuration():
    ready = readiness(documents.smart_configuration())
    assert ready.as_dict() == {"private_key_jwt": True, "client_credentials": True,
                               "client_confidential_asymmetric": True, "ready": True}


def test_readiness_empty_list_is_false_missing_key_is_unknown():
    smart = documents.smart_configuration()
    smart["grant_types_supported"] = []
    del smart["capabilities"]
    ready = readiness(smart)
    assert ready.client_credentials is False
    assert ready.client_confidential_asymmetric is None
    assert ready.private_key_jwt is True
    assert ready.ready is False
    del smart["grant_types_supported"]
    assert readiness(smart).ready is None
    assert readiness(None).as_dict() == {"private_key_jwt": None, "client_credentials": None,
                                         "client_confidential_asymmetric": None, "ready": None}


def test_fingerprint_ignores_date_software_implementation_and_extensions():
    a, b = r4(), r4()
    b["date"] = "2031-01-01T00:00:00Z"
    b["software"] = {"name": "Epic", "version": "toukokuu 2022", "releaseDate": "2020-01-01"}
    b["implementation"] = {"description": "Another tenant", "url": "https://elsewhere.example.org/api/FHIR/R4"}
    b["copyright"] = "Copyright Epic 1979-2031"
    b["rest"][0]["security"]["extension"] = []
    for res in b["rest"][0]["resource"]:
        for param in res.get("searchParam", []):
            param["documentation"] = "reworded"
    b["rest"][0]["resource"].reverse()
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a).startswith("sha256:") and len(fingerprint(a)) == 7 + 64


@pytest.mark.parametrize("change", [
    lambda s: s["rest"][0]["resource"].pop(),
    lambda s: s["rest"][0]["resource"][0]["interaction"].pop(),
    lambda s: s["rest"][0]["resource"][0].pop("searchRevInclude"),
    lambda s: next(r for r in s["rest"][0]["resource"] if "supportedProfile" in r).pop("supportedProfile"),
    lambda s: s["rest"][0]["resource"][0]["searchParam"].pop(),
    lambda s: s.update(fhirVersion="4.0.0"),
])
def test_fingerprint_changes_with_what_is_declared(change):
    a, b = r4(), r4()
    change(b)
    assert fingerprint(a) != fingerprint(b)


def test_fingerprint_needs_a_capability_statement():
    assert fingerprint(None) is None
    assert fingerprint({"resourceType": "Bundle"}) is None
    assert fingerprint(documents.capability_statement("DSTU2")).startswith("sha256:")  # a Conformance


def test_shape_lists_resources_sorted():
    types = [r["type"] for r in shape(r4())["rest"][0]["resource"]]
    assert types == sorted(types) and len(types) == 59
