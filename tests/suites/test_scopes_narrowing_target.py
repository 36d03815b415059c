"""scopes.narrowing tries a narrowed token on a resource type the run read: that type is the first
segment after the FHIR base, never the version segment of the base (``.../R4/Appointment`` read
as type ``R4`` once made a token "narrowed" to Account look unenforced: a false SECURITY failure)."""

from __future__ import annotations

from types import SimpleNamespace

from harness.scopes import Grants
from suites.test_scopes import _resource_type_of, _two_resources

BASES = ("https://epic.example.org/api/FHIR/R4/", "https://epic.example.org/api/FHIR/STU3/")


def test_the_type_is_the_segment_after_the_base() -> None:
    assert _resource_type_of(f"{BASES[0]}Appointment", BASES) == "Appointment"
    assert _resource_type_of(f"{BASES[0]}Appointment?patient=x", BASES) == "Appointment"
    assert _resource_type_of(f"{BASES[1]}Patient/e63wRTbPfr1p8UW81d8Seiw3", BASES) == "Patient"
    assert _resource_type_of(f"{BASES[0]}metadata", BASES) is None
    assert _resource_type_of(f"{BASES[0]}Patient/$match", BASES) == "Patient"
    assert _resource_type_of("https://elsewhere.example.org/R4/Patient/1", BASES) is None


def test_a_search_url_without_a_query_names_its_resource_not_the_version() -> None:
    run_state = SimpleNamespace(
        tenant=SimpleNamespace(fhir_bases={"R4": BASES[0].rstrip("/"), "STU3": BASES[1].rstrip("/")}),
        answered_with_token=lambda: [f"{BASES[0]}metadata", f"{BASES[0]}Appointment", f"{BASES[0]}Patient/p1"])
    grants = Grants.parse("system/Account.rs system/Appointment.rs system/Patient.rs")
    assert _two_resources(grants, run_state) == ("Account", "Appointment", f"{BASES[0]}Appointment")
