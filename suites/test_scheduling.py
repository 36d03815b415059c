"""Scheduling: $find by visit type and named provider, the SDS readiness checklist, and the $book round trip.

The app's scheduling needs the customer's Epic team to finish three set-up steps (seed: "Scheduling
— appointment slot lookup"). These checks tell which one is missing, from the tenant's answers.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.catalog import Api
from harness.checks import TOKEN, CheckContext, CheckFailed, check, data
from harness.client import TenantClient
from harness.config import Tenant
from harness.fhir.responses import expect_fhir, outcome_codes
from harness.scheduling import FindResult, SchedulingData, diagnose, find_body, judge_find, scheduling_data

EPIC_FIND = "Epic, Appointment.$find (STU3) api 840; Argonaut Scheduling"
EPIC_FIND_URL = "https://fhir.epic.com/Specifications?api=840"
EPIC_BOOK = "Epic, Appointment.$book (STU3) api 839"
EPIC_BOOK_URL = "https://fhir.epic.com/Specifications?api=839"
MAX_FIND_PAGES = 10


def _data(tenant: Tenant, api: Api) -> SchedulingData:
    data = scheduling_data(tenant.test_data, file=str(tenant.file) if tenant.file else None)
    if data is None or not data.visit_types:
        pytest.skip(f"{api.name} needs [test_data.scheduling] with visit_types (system = the visit type OID, code) "
                    f"and providers in the tenant file")
    return data


def _patient(tenant: Tenant) -> dict[str, Any] | None:
    data = tenant.test_data
    if not data.get("patient"):
        return None
    patient: dict[str, Any] = {"resourceType": "Patient", "identifier": [{"value": str(data["patient"])}]}
    if data.get("patient_family"):
        patient["name"] = [{"family": data["patient_family"], "given": [data.get("patient_given", "")]}]
    if data.get("patient_birthdate"):
        patient["birthDate"] = data["patient_birthdate"]
    return patient


def find(client: TenantClient, body: dict[str, Any], what: str) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """POST $find, then each next link with the same body (as Epic's $find pages)."""
    url: str | None = client.url("STU3", "Appointment/$find")
    resources: list[dict[str, Any]] = []
    codes: list[tuple[str, str]] = []
    seen: set[str] = set()
    while url and len(seen) < MAX_FIND_PAGES and url not in seen:
        seen.add(url)
        bundle = expect_fhir(client.post(url, json=body, headers={"Content-Type": "application/fhir+json"}), what)
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            if isinstance(bundle, dict) and bundle.get("resourceType") == "OperationOutcome":
                codes += outcome_codes(bundle)
                break
            raise CheckFailed(f"{what}: expected a Bundle", category="tenant-fault")
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") or {}
            if (entry.get("search") or {}).get("mode") == "outcome" or resource.get("resourceType") == "OperationOutcome":
                codes += outcome_codes(resource)
            else:
                resources.append(resource)
        url = next((l.get("url") for l in bundle.get("link") or [] if l.get("relation") == "next"), None)
    return resources, codes


@check("scheduling.find", title="$find returns availability by visit type and by named provider (SDS readiness)",
       why="The app finds slots only through $find; which SDS set-up step is missing decides what the customer must do.",
       source=EPIC_FIND, source_url=EPIC_FIND_URL, group="exercise", area="Scheduling", exercises=True, needs=(TOKEN,),
       applies_to=lambda api: api.interaction == "$find")
def test_find(api: Api, tenant: Tenant, client: TenantClient, verdict: CheckContext) -> None:
    data = _data(tenant, api)
    patient = _patient(tenant)
    by_visit_type: dict[Any, FindResult] = {}
    by_provider: dict[tuple[Any, str], FindResult] = {}
    shape_problems: list[str] = []
    for visit_type in data.visit_types:
        resources, codes = find(client, find_body(data, visit_type, patient=patient, provider=None),
                                f"$find {visit_type.code}")
        result = judge_find(resources, codes, data, None)
        by_visit_type[visit_type] = result
        shape_problems += result.problems
        if result.decision_tree_failed:
            continue
        for provider in data.providers:
            resources, codes = find(client, find_body(data, visit_type, patient=patient, provider=provider),
                                    f"$find {visit_type.code} with {provider}")
            by_provider[(visit_type, provider)] = judge_find(resources, codes, data, provider)
            shape_problems += [p for p in by_provider[(visit_type, provider)].problems if "not with the provider" not in p]
    steps = diagnose(by_visit_type, by_provider, tenant.environment)
    verdict.data["sds"] = [s.as_dict() for s in steps]
    verdict.attach("SDS readiness checklist", verdict.data["sds"])
    found = sum(len(r.appointments) for r in by_visit_type.values())
    verdict.note(f"{found} proposed appointment(s) over {len(by_visit_type)} visit type(s) and "
                 f"{len(by_provider)} provider request(s)")
    informational = {c for r in [*by_visit_type.values(), *by_provider.values()] for c in r.code_set} & {"59109"}
    if informational:
        verdict.warn("Epic 59109 (informational): a parameter was ignored; check the parameter names")
    if shape_problems:
        raise CheckFailed("; ".join(shape_problems[:3]), category="tenant-fault")
    undone = [s for s in steps if s.verdict == "not done" and s.number != 3]
    for step in steps:
        if step.number == 3 and step.verdict == "not done":
            verdict.warn(step.evidence)
    if undone:
        raise CheckFailed(" | ".join(f"step {s.number} not done ({s.name}): {s.evidence}" for s in undone),
                          category="tenant-configuration")
    if found == 0:
        verdict.warn("the configuration works, but there are no open slots in the window: the result is empty, "
                     "which is not a fault of the tenant")


@check("scheduling.book", title="$book books a found appointment, it reads back, and the slot cannot be booked twice",
       why="A booking the app cannot read back, or a slot booked twice, breaks the patient's visit.",
       source=EPIC_BOOK, source_url=EPIC_BOOK_URL, group="exercise", area="Scheduling", exercises=True,
       needs=(TOKEN, data("patient")), writes=True,
       severity="critical", applies_to=lambda api: api.interaction == "$book")
def test_book(api: Api, tenant: Tenant, client: TenantClient, verdict: CheckContext) -> None:
    data = _data(tenant, api)
    patient_id = tenant.test_data["patient"]
    proposal = None
    for visit_type in data.visit_types:
        for provider in (*data.providers, None):
            resources, _ = find(client, find_body(data, visit_type, patient=_patient(tenant), provider=provider),
                                f"$find {visit_type.code}")
            proposal = next((r for r in resources if r.get("resourceType") == "Appointment"), None)
            if proposal:
                break
        if proposal:
            break
    if proposal is None:
        pytest.skip("no open slot was found to book (see scheduling.find)")
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueIdentifier": {"value": str(patient_id)}},
        {"name": "appointment", "valueIdentifier": {"value": proposal["id"]}},
        {"name": "appointmentNote", "valueString": "Booked by epic-fhir-harness (conformance test); safe to cancel."}]}
    url = client.url("STU3", "Appointment/$book")
    booked_bundle = expect_fhir(client.post(url, json=body, headers={"Content-Type": "application/fhir+json"}), "$book")
    booked = next((e.get("resource") for e in (booked_bundle.get("entry") or [])
                   if (e.get("resource") or {}).get("resourceType") == "Appointment"), None)
    if booked is None or booked.get("status") != "booked":
        raise CheckFailed(f"$book did not answer a booked Appointment: {outcome_codes(booked_bundle)[:2]}",
                          category="tenant-fault")
    appointment_id = booked["id"]
    for version in ("STU3", "R4"):
        read = expect_fhir(client.get(client.url(version, f"Appointment/{appointment_id}")),
                           f"read back {version} Appointment/{appointment_id}")
        if read.get("id") != appointment_id:
            raise CheckFailed(f"{version} read of the booked appointment answered {read.get('id')}", category="tenant-fault")
    listed = expect_fhir(client.get(client.url("R4", "Appointment"),
                                    params={"patient": str(patient_id), "service-category": "appointment"}),
                         "Appointment search by patient")
    if appointment_id not in {(e.get("resource") or {}).get("id") for e in listed.get("entry") or []}:
        verdict.warn("the booked appointment is not in the first page of Appointment.Search by patient")
    again = client.post(url, json=body, headers={"Content-Type": "application/fhir+json"})
    if again.status_code < 400 and _booked_again(again):
        raise CheckFailed("the same slot was booked twice: $book must refuse a proposal already booked",
                          category="tenant-fault")
    verdict.note(f"booked Appointment/{appointment_id}; the second $book was refused (HTTP {again.status_code})")


def _booked_again(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return any((e.get("resource") or {}).get("status") == "booked" for e in body.get("entry") or [])
