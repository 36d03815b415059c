"""The organisational directory: organizations, locations, practitioners and their roles, endpoints."""

from __future__ import annotations

from typing import Any

from .base import (
    Builder, EPIC_OID, MAIN_ENDPOINT, MAIN_LOCATION, MAIN_LOCATION_NAME, MAIN_ORGANIZATION,
    MAIN_ORGANIZATION_NAME, NPI_SYSTEM, PRACTITIONER_NAMES, SANDBOX_ROOT, concept, epic_id,
    practitioner_display, practitioner_id, practitioner_npi, ref,
)

def organizations(b: Builder) -> None:
    rows = (
        (MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME, "prov", "Healthcare Provider", None, "1979 Milky Way"),
        (epic_id("org-hospital"), "Harness Community Hospital", "prov", "Healthcare Provider",
         MAIN_ORGANIZATION, "2 Harness Hospital Drive"),
        (epic_id("org-specialty"), "Harness Specialty Group", "prov", "Healthcare Provider",
         MAIN_ORGANIZATION, "30 Specialty Court"),
        (epic_id("org-payer"), "Harness Mutual Insurance", "pay", "Payer", None, "400 Premium Parkway"),
        (epic_id("org-community"), "Harness Community Pantry", "cg", "Community Group", None, "5 Commons Row"),
    )
    for index, (org_id, name, code, display, part_of, line) in enumerate(rows):
        org: dict[str, Any] = {
            "resourceType": "Organization",
            "id": org_id,
            "identifier": [{"use": "usual", "system": f"{EPIC_OID}.2.696570", "value": str(1000 + index)}],
            "active": True,
            "type": [concept("http://terminology.hl7.org/CodeSystem/organization-type", code, display)],
            "name": name,
            "telecom": [{"system": "phone", "value": f"608-555-01{index:02d}", "use": "work"}],
            "address": [{"use": "work", "line": [line], "city": "Verona", "state": "WI",
                         "postalCode": "53593", "country": "US"}],
        }
        if part_of:
            org["partOf"] = ref("Organization", part_of, MAIN_ORGANIZATION_NAME)
        b.add(org)


LOCATIONS: tuple[tuple[str, str, str, str, str], ...] = (
    # id, name, type code (v3-RoleCode), type display, managing organization
    (MAIN_LOCATION, MAIN_LOCATION_NAME, "FMC", "Family medicine clinic", MAIN_ORGANIZATION),
    (epic_id("loc-hospital"), "Harness Community Hospital", "HOSP", "Hospital", epic_id("org-hospital")),
    (epic_id("loc-or"), "Harness Community Hospital Main OR", "OR", "Operating room", epic_id("org-hospital")),
    (epic_id("loc-cardiology"), "Harness Cardiology Clinic", "CARD", "Ambulatory Health Care Facilities; "
     "Clinic/Center; Rehabilitation: Cardiac Facilities", epic_id("org-specialty")),
    (epic_id("loc-pediatrics"), "Harness Pediatrics Clinic", "PEDC", "Pediatrics clinic", MAIN_ORGANIZATION),
    (epic_id("loc-imaging"), "Harness Imaging Center", "RADDX", "Radiology diagnostics or therapeutics unit",
     epic_id("org-specialty")),
)


WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
#: Where the clinics are (around Verona, Wisconsin): latitude, longitude
VERONA = (42.9908, -89.5332)


def address_of(index: int) -> dict[str, Any]:
    """The work address of location ``index`` (practitioners work there too)."""
    return {"use": "work", "line": [f"{10 + index} Harness Way"], "city": "Verona", "state": "WI",
            "postalCode": "53593", "country": "US"}


def locations(b: Builder) -> None:
    for index, (loc_id, name, code, display, org_id) in enumerate(LOCATIONS):
        always_open = code in ("HOSP", "OR")
        b.add({
            "resourceType": "Location",
            "id": loc_id,
            "identifier": [{"use": "usual", "system": f"{EPIC_OID}.2.686980", "value": str(10500 + index)}],
            "status": "active",
            "name": name,
            "mode": "instance",
            "type": [concept("http://terminology.hl7.org/CodeSystem/v3-RoleCode", code, display)],
            "telecom": [{"system": "phone", "value": f"608-555-02{index:02d}", "use": "work"}],
            "address": address_of(index),
            "position": {"longitude": round(VERONA[1] + index * 0.0031, 4),
                         "latitude": round(VERONA[0] + index * 0.0017, 4)},
            "managingOrganization": ref("Organization", org_id),
            "hoursOfOperation": [{"allDay": True}] if always_open else [
                {"daysOfWeek": WEEKDAYS, "openingTime": "08:00:00", "closingTime": "17:00:00"},
                {"daysOfWeek": ["sat"], "openingTime": "09:00:00", "closingTime": "12:00:00"},
            ],
        })


#: Languages practitioners speak (BCP 47): English, and a second one for every other practitioner
LANGUAGES: tuple[tuple[str, str], ...] = (("en", "English"), ("es", "Spanish"), ("hmn", "Hmong"),
                                          ("de", "German"), ("so", "Somali"))


def practitioners(b: Builder) -> None:
    for index, (given, family, gender, specialty) in enumerate(PRACTITIONER_NAMES):
        prac_id = practitioner_id(index)
        display = practitioner_display(index)
        b.add({
            "resourceType": "Practitioner",
            "id": prac_id,
            "identifier": [
                {"use": "usual", "type": {"text": "NPI"}, "system": NPI_SYSTEM, "value": practitioner_npi(index)},
                {"use": "usual", "type": {"text": "INTERNAL"}, "system": f"{EPIC_OID}.2.697780",
                 "value": f"H{2000 + index}"},
            ],
            "active": True,
            "name": [{"use": "usual", "text": display, "family": family, "given": [given], "suffix": ["MD"]}],
            "telecom": [{"system": "phone", "value": f"608-555-1{index:03d}", "use": "work"}],
            "address": [address_of(index % len(LOCATIONS))],
            "gender": gender,
            "qualification": [{
                "code": concept("http://terminology.hl7.org/CodeSystem/v2-0360|2.7", "MD", "Doctor of Medicine"),
            }],
            "communication": [concept("urn:ietf:bcp:47", tag, language) for tag, language in
                              (LANGUAGES[0], LANGUAGES[1 + index % (len(LANGUAGES) - 1)])[: 1 + index % 2]],
        })
        locations = [LOCATIONS[index % len(LOCATIONS)]]
        if index == 0:
            locations.append(LOCATIONS[4])
        for role_index, (loc_id, loc_name, _, _, org_id) in enumerate(locations):
            b.add({
                "resourceType": "PractitionerRole",
                "id": epic_id(f"practitioner-role-{index:02d}-{role_index}"),
                "active": True,
                "practitioner": ref("Practitioner", prac_id, display),
                "organization": ref("Organization", org_id),
                "code": [concept("http://terminology.hl7.org/CodeSystem/practitioner-role", "doctor", "Doctor")],
                "specialty": [concept(f"{EPIC_OID}.4.836982.1040", str(index % 19 + 1), specialty)],
                "location": [ref("Location", loc_id, loc_name)],
                "telecom": [{"system": "phone", "value": f"608-555-1{index:03d}", "use": "work"}],
                "period": {"start": f"{2015 + index % 10}-0{1 + role_index * 6}-01"},
                "availableTime": [{"daysOfWeek": WEEKDAYS[role_index::2] if index % 3 else WEEKDAYS,
                                   "availableStartTime": "08:30:00", "availableEndTime": "16:30:00"}],
                "endpoint": [ref("Endpoint", MAIN_ENDPOINT, f"{MAIN_ORGANIZATION_NAME} FHIR R4")],
            })


def endpoints(b: Builder) -> None:
    b.add({
        "resourceType": "Endpoint",
        "id": MAIN_ENDPOINT,
        "status": "active",
        "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                           "code": "hl7-fhir-rest", "display": "HL7 FHIR"},
        "name": f"{MAIN_ORGANIZATION_NAME} FHIR R4",
        "managingOrganization": ref("Organization", MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME),
        "payloadType": [concept("http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "any", "Any")],
        "payloadMimeType": ["application/fhir+json", "application/fhir+xml"],
        "address": f"{SANDBOX_ROOT}/api/FHIR/R4",
    })
    b.add({
        "resourceType": "Endpoint",
        "id": epic_id("endpoint-direct"),
        "status": "active",
        "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                           "code": "direct-project", "display": "Direct Project"},
        "name": f"{MAIN_ORGANIZATION_NAME} Direct referrals",
        "managingOrganization": ref("Organization", MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME),
        "payloadType": [concept("http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "any", "Any")],
        "address": "mailto:referrals@direct.harness.example",
    })

