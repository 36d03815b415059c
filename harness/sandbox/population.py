"""The sandbox tenant's synthetic population: who and what its FHIR API serves.

Small and deterministic: built from the tables below on first use, identical on every run. No
real people: every name, address, phone number and identifier is invented. Ids look like Epic's
opaque FHIR ids (``e`` + 22 base64-like characters + ``3``); the main patient, the main
practitioner, organization and location reuse the public fixture ids of Epic's own sandbox so that
a tenant file written for one works with the other.

Resources are written once, in R4 shape with relative references (``Patient/<id>``). The STU3 and
DSTU2 views are derived from them (``versions.py``); STU3-only resources (Schedule, Slot) are
written in STU3 shape. References become absolute for STU3 and DSTU2 when served.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

# --- the fixtures tenant files name ---------------------------------------------------------

MAIN_PATIENT = "erXuFYUfucBZaryVksYEcMg3"
MAIN_PRACTITIONER = "eM5CWtq15N0WJeuCet5bJlQ3"
MAIN_PRACTITIONER_NPI = "1234567893"
MAIN_PRACTITIONER_FAMILY = "Physician"
MAIN_ORGANIZATION = "enRyWnSP963FYDpoks4NHOA3"
MAIN_ORGANIZATION_NAME = "Harness Health System"
MAIN_LOCATION = "e4W4rmGe9QzuGm2Dy4NBqVc0KDe6yGld6HW95UuN-Qd03"
MAIN_LOCATION_NAME = "Harness Family Medicine Clinic"
MAIN_ENDPOINT = "eHarnessEndpoint0000000003"
MAIN_SCHEDULE = "eHarnessSchedule000000003"
MAIN_SLOT = "eHarnessSlot00000000000003"
MAIN_QUESTIONNAIRE_NAME = "Harness PHQ-2"
PATIENT_LIST_SYSTEM = "urn:oid:1.2.840.114350.1.13.0.1.7.2.806567"
PATIENT_LIST_VALUE = "1001"

# --- code systems ---------------------------------------------------------------------------

EPIC_OID = "urn:oid:1.2.840.114350.1.13.0.1.7"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
LEGAL_SEX_URL = "http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex"
CLINICAL_SEX_URL = "http://open.epic.com/FHIR/StructureDefinition/extension/sex-for-clinical-use"
SEX_SYSTEM = f"{EPIC_OID}.10.698084.130.657370.19999000"
EPI_SYSTEM = f"{EPIC_OID}.5.737384.14"
MRN_SYSTEM = f"{EPIC_OID}.5.737384.0"
CEID_SYSTEM = f"{EPIC_OID}.3.688884.100"
FHIR_ID_SYSTEM = "http://open.epic.com/FHIR/StructureDefinition/patient-fhir-id"
DSTU2_ID_SYSTEM = "http://open.epic.com/FHIR/StructureDefinition/patient-dstu2-fhir-id"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
LIST_USE_CODES = "http://terminology.hl7.org/CodeSystem/list-example-use-codes"
EPIC_LIST_CODES = "http://open.epic.com/FHIR/StructureDefinition/list-code"
FLAG_CATEGORY = "http://open.epic.com/FHIR/StructureDefinition/flag-category"
CONDITION_CATEGORY = "http://open.epic.com/FHIR/StructureDefinition/condition-category"
CONSENT_CATEGORY = "http://open.epic.com/FHIR/StructureDefinition/consent-category"
APPOINTMENT_SERVICE_CATEGORY = "http://open.epic.com/FHIR/StructureDefinition/appointment-service-category"
COMMUNICATION_CATEGORY = "http://open.epic.com/FHIR/StructureDefinition/communication-category"
SERVICE_REQUEST_CATEGORY = "http://open.epic.com/FHIR/StructureDefinition/service-request-category"
VISIT_TYPE_SYSTEM = f"{EPIC_OID}.3.808267.11"
QR_CONTEXT = "http://open.epic.com/FHIR/StructureDefinition/questionnaire-response-context"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
QUESTIONNAIRE_BASE = "http://fhir.harness.example/Questionnaire"
#: Epic's sandbox root: URLs under it are rewritten to the serving sandbox's root.
SANDBOX_ROOT = "https://fhir.epic.com/interconnect-fhir-oauth"


def epic_id(seed: str) -> str:
    """An Epic-style opaque FHIR id, the same for the same seed: ``e`` + 22 characters + ``3``."""
    digest = hashlib.sha256(f"harness-sandbox:{seed}".encode()).digest()
    text = base64.b64encode(digest).decode("ascii").replace("+", ".").replace("/", "-")
    return f"e{text[:22]}3"


def npi(base: int) -> str:
    """A 10-digit NPI for the 9-digit ``base``, with its Luhn check digit (prefix 80840)."""
    digits = f"80840{base:09d}"
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return f"{base:09d}{(10 - total % 10) % 10}"


def ref(resource_type: str, resource_id: str, display: str | None = None) -> dict[str, Any]:
    reference: dict[str, Any] = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        reference["display"] = display
    return reference


def concept(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": text or display}


def _instant(day: date, hour: int, minute: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


# --- people ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    key: str
    given: tuple[str, ...]
    family: str
    gender: str
    birth_date: str
    city: str = "Verona"
    state: str = "WI"
    postal_code: str = "53593"

    @property
    def text(self) -> str:
        return " ".join((*self.given, self.family))

    @property
    def display(self) -> str:
        return f"{self.family}, {' '.join(self.given)}"


PATIENTS: tuple[Person, ...] = (
    Person(MAIN_PATIENT, ("Camila", "Maria"), "Lopez", "female", "1987-09-12"),
    Person("patient-02", ("Theodore",), "Quillfeather", "male", "1954-02-17", "Madison", "WI", "53703"),
    Person("patient-03", ("Marisol",), "Okonkwo-Berg", "female", "1992-11-03", "Fitchburg", "WI", "53711"),
    Person("patient-04", ("Benedikt",), "Haverly", "male", "1978-06-25"),
    Person("patient-05", ("Priya",), "Castellanova", "female", "2001-01-30", "Middleton", "WI", "53562"),
    Person("patient-06", ("Jonah",), "Whitlowe", "male", "2015-08-09"),
    Person("patient-07", ("Ines",), "Marchetto", "female", "1969-12-14", "Madison", "WI", "53704"),
    Person("patient-08", ("Roland",), "Fairbrook", "male", "1943-04-02", "Mount Horeb", "WI", "53572"),
    Person("patient-09", ("Keziah",), "Thornbury", "female", "1985-07-21"),
    Person("patient-10", ("Oskar",), "Brennemark", "male", "1999-03-11", "Oregon", "WI", "53575"),
    Person("patient-11", ("Lucia",), "Tanaka-Reyes", "female", "1960-10-05", "Madison", "WI", "53705"),
    # Camila's twin: same family name and birth date, so a $match on those two alone is uncertain.
    Person("patient-12", ("Mateo",), "Lopez", "male", "1987-09-12"),
)

PRACTITIONER_NAMES: tuple[tuple[str, str, str, str], ...] = (
    # given, family, gender, specialty (display)
    ("Family Medicine", "Physician", "male", "Family Medicine"),
    ("Surgery", "Physician", "male", "General Surgery"),
    ("Avery", "Holmgren", "female", "Cardiology"),
    ("Bastian", "Okoro", "male", "Pediatrics"),
    ("Celeste", "Marlowe", "female", "Internal Medicine"),
    ("Dmitri", "Vanterpool", "male", "Radiology"),
    ("Elodie", "Fairweather", "female", "Obstetrics and Gynecology"),
    ("Farid", "Nakashima", "male", "Family Medicine"),
    ("Greta", "Oyelaran", "female", "Dermatology"),
    ("Hollis", "Pemberton", "male", "Orthopaedic Surgery"),
    ("Ingrid", "Quiroga", "female", "Psychiatry"),
    ("Jasper", "Rutherglen", "male", "Neurology"),
    ("Kalani", "Sorensen", "female", "Endocrinology"),
    ("Leopold", "Trevethan", "male", "Gastroenterology"),
    ("Mireille", "Umberfield", "female", "Oncology"),
    ("Nikolai", "Valdermoor", "male", "Pulmonology"),
    ("Ottilie", "Wexcombe", "female", "Nephrology"),
    ("Percival", "Yarborough", "male", "Urology"),
    ("Quinn", "Zellweger-Adu", "female", "Ophthalmology"),
    ("Rafferty", "Ashdown", "male", "Emergency Medicine"),
    ("Saoirse", "Blackwood", "female", "Family Medicine"),
    ("Thaddeus", "Corriveau", "male", "Anesthesiology"),
    ("Ulrike", "Dunmore", "female", "Rheumatology"),
    ("Valentin", "Esterhazy", "male", "Infectious Disease"),
    ("Wilhelmina", "Fenwick", "female", "Pediatrics"),
    ("Xavier", "Gallowglass", "male", "Cardiology"),
    ("Yasmin", "Hartigan", "female", "Physical Medicine"),
    ("Zebulon", "Inchcape", "male", "Otolaryngology"),
    ("Anouk", "Jessamine", "female", "Allergy and Immunology"),
    ("Bartholomew", "Kilbride", "male", "Geriatric Medicine"),
)


def _patient_id(person: Person) -> str:
    return person.key if person.key == MAIN_PATIENT else epic_id(person.key)


def _practitioner_id(index: int) -> str:
    return MAIN_PRACTITIONER if index == 0 else epic_id(f"practitioner-{index:02d}")


def _practitioner_npi(index: int) -> str:
    return MAIN_PRACTITIONER_NPI if index == 0 else npi(100_000_000 + index * 104_729)


def _practitioner_display(index: int) -> str:
    given, family, _, _ = PRACTITIONER_NAMES[index]
    return f"{family} {given}, MD"


# --- builder --------------------------------------------------------------------------------


class _Builder:
    """Collects resources by type and id, in insertion order."""

    def __init__(self) -> None:
        self.r4: dict[str, dict[str, dict[str, Any]]] = {}
        self.stu3_only: dict[str, dict[str, dict[str, Any]]] = {}

    def add(self, resource: dict[str, Any], *, stu3_only: bool = False) -> dict[str, Any]:
        store = self.stu3_only if stu3_only else self.r4
        by_id = store.setdefault(resource["resourceType"], {})
        if resource["id"] in by_id:
            raise ValueError(f"duplicate id {resource['resourceType']}/{resource['id']}")
        by_id[resource["id"]] = resource
        return resource


def _organizations(b: _Builder) -> None:
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


def _locations(b: _Builder) -> None:
    for index, (loc_id, name, code, display, org_id) in enumerate(LOCATIONS):
        b.add({
            "resourceType": "Location",
            "id": loc_id,
            "identifier": [{"use": "usual", "system": f"{EPIC_OID}.2.686980", "value": str(10500 + index)}],
            "status": "active",
            "name": name,
            "mode": "instance",
            "type": [concept("http://terminology.hl7.org/CodeSystem/v3-RoleCode", code, display)],
            "telecom": [{"system": "phone", "value": f"608-555-02{index:02d}", "use": "work"}],
            "address": {"use": "work", "line": [f"{10 + index} Harness Way"], "city": "Verona",
                        "state": "WI", "postalCode": "53593", "country": "US"},
            "managingOrganization": ref("Organization", org_id),
        })


def _practitioners(b: _Builder) -> None:
    for index, (given, family, gender, specialty) in enumerate(PRACTITIONER_NAMES):
        prac_id = _practitioner_id(index)
        display = _practitioner_display(index)
        b.add({
            "resourceType": "Practitioner",
            "id": prac_id,
            "identifier": [
                {"use": "usual", "type": {"text": "NPI"}, "system": NPI_SYSTEM, "value": _practitioner_npi(index)},
                {"use": "usual", "type": {"text": "INTERNAL"}, "system": f"{EPIC_OID}.2.697780",
                 "value": f"H{2000 + index}"},
            ],
            "active": True,
            "name": [{"use": "usual", "text": display, "family": family, "given": [given], "suffix": ["MD"]}],
            "telecom": [{"system": "phone", "value": f"608-555-1{index:03d}", "use": "work"}],
            "gender": gender,
            "qualification": [{
                "code": concept("http://terminology.hl7.org/CodeSystem/v2-0360|2.7", "MD", "Doctor of Medicine"),
            }],
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
            })


def _endpoints(b: _Builder) -> None:
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


def _patients(b: _Builder) -> None:
    for index, person in enumerate(PATIENTS):
        pat_id = _patient_id(person)
        sex = person.gender
        gp = 0 if index % 5 == 0 else index  # every fifth patient, Camila first, sees the main practitioner
        b.add({
            "resourceType": "Patient",
            "id": pat_id,
            "extension": [
                {"url": LEGAL_SEX_URL,
                 "valueCodeableConcept": {"coding": [{"system": SEX_SYSTEM, "code": sex, "display": sex}],
                                          "text": sex.capitalize()}},
                {"url": CLINICAL_SEX_URL,
                 "valueCodeableConcept": {"coding": [{"system": SEX_SYSTEM, "code": sex, "display": sex}]}},
            ],
            "identifier": [
                {"use": "usual", "type": {"text": "CEID"}, "system": CEID_SYSTEM,
                 "value": f"FHR{hashlib.sha256(pat_id.encode()).hexdigest()[:12].upper()}"},
                {"use": "usual", "type": {"coding": [{"system": V2_0203, "code": "MR"}], "text": "EPIC"},
                 "system": MRN_SYSTEM, "value": f"E{4000 + index}"},
                {"use": "usual", "type": {"text": "FHIR"}, "system": DSTU2_ID_SYSTEM,
                 "value": "T" + epic_id(f"dstu2-{person.key}")[1:-1]},
                {"use": "usual", "type": {"text": "FHIR STU3"}, "system": FHIR_ID_SYSTEM, "value": pat_id},
                {"use": "usual", "type": {"text": "EPI"}, "system": EPI_SYSTEM, "value": str(203700 + index)},
            ],
            "active": True,
            "name": [
                {"use": "official", "text": person.text, "family": person.family, "given": list(person.given)},
                {"use": "usual", "text": person.text, "family": person.family, "given": list(person.given)},
            ],
            "telecom": [
                {"system": "phone", "value": f"608-555-3{index:03d}", "use": "home", "rank": 1},
                {"system": "email", "value": f"patient{index + 1:02d}@mail.harness.example", "rank": 2},
            ],
            "gender": sex,
            "birthDate": person.birth_date,
            "deceasedBoolean": False,
            "address": [{
                "use": "home",
                "line": [f"{100 + index * 7} Sandbox Lane"],
                "city": person.city,
                "state": person.state,
                "postalCode": person.postal_code,
                "country": "US",
            }],
            "maritalStatus": {"text": "Married" if index % 2 == 0 else "Single"},
            "communication": [{
                "language": concept("urn:ietf:bcp:47", "en", "English"),
                "preferred": True,
            }],
            "generalPractitioner": [ref("Practitioner", _practitioner_id(gp), _practitioner_display(gp))],
            "managingOrganization": ref("Organization", MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME),
        })


def _patient_ref(person: Person) -> dict[str, Any]:
    return ref("Patient", _patient_id(person), person.display)


def _coverages(b: _Builder) -> None:
    payer = epic_id("org-payer")
    for index, person in enumerate(PATIENTS):
        plans = [("commercial", "Harness Mutual PPO")]
        if index == 0:
            plans.append(("dental", "Harness Mutual Dental"))
        for plan_index, (kind, name) in enumerate(plans):
            b.add({
                "resourceType": "Coverage",
                "id": epic_id(f"coverage-{person.key}-{plan_index}"),
                "identifier": [{"use": "usual", "system": f"{EPIC_OID}.2.726582",
                                "value": f"{5000 + index * 10 + plan_index}"}],
                "status": "active",
                "type": concept("http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                "EHCPOL" if kind == "commercial" else "DENTPRG",
                                "extended healthcare" if kind == "commercial" else "dental program", name),
                "subscriberId": f"HMI{700000 + index * 10 + plan_index}",
                "subscriber": _patient_ref(person),
                "beneficiary": _patient_ref(person),
                "dependent": "01",
                "relationship": concept("http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                                        "self", "Self"),
                "period": {"start": "2025-01-01", "end": "2026-12-31"},
                "payor": [ref("Organization", payer, "Harness Mutual Insurance")],
            })


ENCOUNTER_TYPES: tuple[tuple[str, str, str], ...] = (
    ("AMB", "ambulatory", "Office Visit"),
    ("AMB", "ambulatory", "Telemedicine"),
    ("AMB", "ambulatory", "Procedure Visit"),
    ("IMP", "inpatient encounter", "Hospital Encounter"),
    ("EMER", "emergency", "Emergency"),
)


def _encounter_count(index: int) -> int:
    """Camila has enough encounters for three pages of ten; the others a few each."""
    return 26 if index == 0 else 2


def _encounter_day(index: int, number: int) -> date:
    """Five weeks apart from January 2024; Camila's last one is still to come."""
    return date(2024, 1, 8) + timedelta(days=number * 35 + index * 5)


def _encounter_id(person: Person, number: int) -> str:
    return epic_id(f"encounter-{person.key}-{number:02d}")


def _encounters(b: _Builder) -> None:
    for index, person in enumerate(PATIENTS):
        for number in range(_encounter_count(index)):
            day = _encounter_day(index, number)
            code, class_display, type_text = ENCOUNTER_TYPES[number % len(ENCOUNTER_TYPES)]
            prac = (number + index) % len(PRACTITIONER_NAMES) if number % 3 else 0
            loc_id, loc_name = LOCATIONS[number % len(LOCATIONS)][:2]
            planned = day > date(2026, 4, 30)
            encounter: dict[str, Any] = {
                "resourceType": "Encounter",
                "id": _encounter_id(person, number),
                "identifier": [{"use": "usual", "system": f"{EPIC_OID}.3.698084.8",
                                "value": str(27000 + index * 100 + number)}],
                "status": "planned" if planned else "finished",
                "class": {"system": ACT_CODE, "code": code, "display": class_display},
                "type": [concept(f"{EPIC_OID}.10.698084.30", str(101 + number % 5), type_text)],
                "serviceType": concept(f"{EPIC_OID}.10.698084.18886", "124", "General Medicine"),
                "subject": _patient_ref(person),
                "participant": [{
                    "type": [concept(PARTICIPATION, "ATND", "attender")],
                    "period": {"start": _instant(day, 15)},
                    "individual": ref("Practitioner", _practitioner_id(prac), _practitioner_display(prac)),
                }],
                "period": {"start": _instant(day, 15)} if planned else
                          {"start": _instant(day, 15), "end": _instant(day, 15, 40)},
                "reasonCode": [concept(SNOMED, "185349003", "Encounter for check up", "Check-up")],
                "location": [{"location": ref("Location", loc_id, loc_name)}],
                "serviceProvider": ref("Organization", MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME),
            }
            b.add(encounter)


REASONS: tuple[tuple[str, str], ...] = (
    ("185349003", "Encounter for check up"),
    ("25064002", "Headache"),
    ("49727002", "Cough"),
    ("161891005", "Back pain"),
    ("271807003", "Rash"),
)


def _conditions(b: _Builder) -> None:
    for index, person in enumerate(PATIENTS):
        for number in range(5 if index == 0 else 1):
            code, display = REASONS[(number + index) % len(REASONS)]
            encounter_day = _encounter_day(index, number)
            b.add({
                "resourceType": "Condition",
                "id": epic_id(f"condition-rfv-{person.key}-{number}"),
                "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                          "resolved", "Resolved"),
                "verificationStatus": concept("http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                              "confirmed", "Confirmed"),
                "category": [concept(CONDITION_CATEGORY, "reason-for-visit", "Reason for Visit")],
                "code": concept(SNOMED, code, display),
                "subject": _patient_ref(person),
                "encounter": ref("Encounter", _encounter_id(person, number)),
                "onsetDateTime": encounter_day.isoformat(),
                "recordedDate": _instant(encounter_day, 15, 5),
            })


def _episodes(b: _Builder) -> None:
    for index, person in enumerate(PATIENTS[:6]):
        episodes = [("Pregnancy", "active")] if person.gender == "female" else [("Care Management", "active")]
        if index == 0:
            episodes.append(("Oncology Treatment", "finished"))
        for number, (kind, status) in enumerate(episodes):
            period: dict[str, str] = {"start": f"{2024 + number}-02-01"}
            if status == "finished":
                period["end"] = "2025-06-30"
            b.add({
                "resourceType": "EpisodeOfCare",
                "id": epic_id(f"episode-{person.key}-{number}"),
                "status": status,
                "type": [concept(f"{EPIC_OID}.4.726668.5", str(10 + number), kind)],
                "patient": _patient_ref(person),
                "managingOrganization": ref("Organization", MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME),
                "period": period,
                "careManager": ref("Practitioner", MAIN_PRACTITIONER, _practitioner_display(0)),
            })


#: List contexts: search code, code system, display, entries for Camila
PATIENT_LISTS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("problems", LIST_USE_CODES, "Problem List", ("Seasonal allergic rhinitis", "Iron deficiency anemia")),
    ("allergies", LIST_USE_CODES, "Allergy List", ("Penicillins", "Tree nut")),
    ("medications", LIST_USE_CODES, "Medication List", ("Cetirizine 10 mg tablet", "Ferrous sulfate 325 mg tablet")),
    ("immunizations", EPIC_LIST_CODES, "Immunization List", ("Influenza vaccine 2025-2026", "Tdap")),
    ("family-history", EPIC_LIST_CODES, "Family History", ("Mother: Type 2 diabetes", "Father: Hypertension")),
    ("hospital-problems", EPIC_LIST_CODES, "Hospital Problem List", ("Dehydration",)),
)


def _lists(b: _Builder) -> None:
    for index, person in enumerate(PATIENTS):
        for code, system, display, items in PATIENT_LISTS:
            entries = items if index == 0 or code in ("allergies", "medications") else ()
            resource: dict[str, Any] = {
                "resourceType": "List",
                "id": epic_id(f"list-{code}-{person.key}"),
                "status": "current",
                "mode": "snapshot",
                "title": display,
                "code": concept(system, code, display),
                "subject": _patient_ref(person),
                "date": "2026-04-01T14:00:00Z",
            }
            if entries:
                resource["entry"] = [
                    {"date": "2026-04-01T14:00:00Z", "item": {"display": item}} for item in entries
                ]
            else:
                resource["emptyReason"] = concept("http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                                  "nilknown", "Nil Known")
            b.add(resource)
    panels = (
        (PATIENT_LIST_VALUE, "Harness Family Medicine Panel", PATIENTS[:8]),
        ("1002", "Harness Inpatient Census", PATIENTS[6:]),
    )
    for value, title, members in panels:
        b.add({
            "resourceType": "List",
            "id": epic_id(f"patient-list-{value}"),
            "identifier": [{"use": "usual", "system": PATIENT_LIST_SYSTEM, "value": value}],
            "status": "current",
            "mode": "working",
            "title": title,
            "code": concept(EPIC_LIST_CODES, "patient-list", "Patient List"),
            "date": "2026-04-30T12:00:00Z",
            "source": ref("Practitioner", MAIN_PRACTITIONER, _practitioner_display(0)),
            "entry": [{"item": _patient_ref(person)} for person in members],
        })


FLAGS: tuple[tuple[str, str, str, str], ...] = (
    # category code, category display, flag code, flag display
    ("health-concern", "Health Concern", "1149222004", "Fall risk"),
    ("infection", "Infection", "186150001", "MRSA carrier"),
    ("isolation", "Isolation", "40174006", "Contact isolation"),
    ("patient-fyi", "Patient FYI", "397745006", "Prefers morning appointments"),
)


def _flags(b: _Builder) -> None:
    for index, person in enumerate(PATIENTS):
        chosen = FLAGS if index == 0 else (FLAGS[index % len(FLAGS)],)
        for category, category_display, code, display in chosen:
            b.add({
                "resourceType": "Flag",
                "id": epic_id(f"flag-{category}-{person.key}"),
                "status": "active",
                "category": [concept(FLAG_CATEGORY, category, category_display)],
                "code": concept(SNOMED, code, display),
                "subject": _patient_ref(person),
                "period": {"start": "2025-11-03"},
                "author": ref("Practitioner", MAIN_PRACTITIONER, _practitioner_display(0)),
            })


def _consents(b: _Builder) -> None:
    for index, person in enumerate(PATIENTS):
        rows = [("code-status", "Code Status", "adr", "Advanced Care Directive", "Full Code")]
        if index % 2 == 0:
            rows.append(("document", "Document", "patient-privacy", "Privacy Consent",
                         "Notice of Privacy Practices acknowledgement"))
        for category, category_display, scope, scope_display, title in rows:
            b.add({
                "resourceType": "Consent",
                "id": epic_id(f"consent-{category}-{person.key}"),
                "status": "active",
                "scope": concept("http://terminology.hl7.org/CodeSystem/consentscope", scope, scope_display),
                "category": [concept(CONSENT_CATEGORY, category, category_display, title)],
                "patient": _patient_ref(person),
                "dateTime": "2025-09-15T16:00:00Z",
                "organization": [ref("Organization", MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME)],
                "policy": [{"uri": "http://fhir.harness.example/policy/" + category}],
            })


def _documents(b: _Builder) -> None:
    for index, person in enumerate(PATIENTS[:4]):
        day = date(2026, 3, 2) + timedelta(days=index)
        b.add({
            "resourceType": "DocumentReference",
            "id": epic_id(f"document-{person.key}"),
            "status": "current",
            "docStatus": "final",
            "type": concept(LOINC, "11506-3", "Progress note"),
            "category": [concept("http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                                 "clinical-note", "Clinical Note")],
            "subject": _patient_ref(person),
            "date": _instant(day, 16),
            "author": [ref("Practitioner", MAIN_PRACTITIONER, _practitioner_display(0))],
            "content": [{"attachment": {"contentType": "text/plain", "title": "Progress note",
                                        "data": base64.b64encode(b"Synthetic progress note.").decode()}}],
            "context": {"encounter": [ref("Encounter", _encounter_id(person, 0))],
                        "period": {"start": _instant(day, 15), "end": _instant(day, 16)}},
        })


QUESTIONNAIRES: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    ("phq-2", MAIN_QUESTIONNAIRE_NAME, "Patient Health Questionnaire-2", (
        ("44250-9", "Little interest or pleasure in doing things?"),
        ("44255-8", "Feeling down, depressed, or hopeless?"),
    )),
    ("gad-2", "Harness GAD-2", "Generalized Anxiety Disorder 2-item", (
        ("69725-0", "Feeling nervous, anxious or on edge?"),
        ("68509-9", "Not being able to stop or control worrying?"),
    )),
    ("imaging-prior-auth", "Harness Imaging Prior Auth", "Advanced imaging prior authorization", (
        ("imaging-1", "Which study is requested?"),
        ("imaging-2", "How long have the symptoms lasted?"),
        ("imaging-3", "Has conservative therapy been tried for six weeks?"),
    )),
    ("code-status", "Harness Code Status", "Code status discussion", (
        ("code-status-1", "Which code status did the patient choose?"),
    )),
)

FREQUENCY_ANSWERS: tuple[tuple[str, str], ...] = (
    ("LA6568-5", "Not at all"),
    ("LA6569-3", "Several days"),
    ("LA6570-1", "More than half the days"),
    ("LA6571-9", "Nearly every day"),
)


def questionnaire_url(key: str) -> str:
    return f"{QUESTIONNAIRE_BASE}/{key}"


def _questionnaires(b: _Builder) -> None:
    for key, name, title, questions in QUESTIONNAIRES:
        b.add({
            "resourceType": "Questionnaire",
            "id": epic_id(f"questionnaire-{key}"),
            "url": questionnaire_url(key),
            "version": "1",
            "name": name,
            "title": title,
            "status": "active",
            "subjectType": ["Patient"],
            "date": "2025-10-01",
            "publisher": MAIN_ORGANIZATION_NAME,
            "item": [
                {
                    "linkId": link_id,
                    "text": text,
                    "type": "choice",
                    "required": True,
                    "answerOption": [{"valueCoding": {"system": LOINC, "code": code, "display": display}}
                                     for code, display in FREQUENCY_ANSWERS],
                }
                for link_id, text in questions
            ],
        })


def _questionnaire_responses(b: _Builder) -> None:
    contexts = (
        ("phq-2", "patient-entered", "Patient-Entered Questionnaires"),
        ("code-status", "code-status", "Code Status Questionnaire"),
        ("imaging-prior-auth", "prior-auth", "Prior Auth"),
        ("gad-2", "outside-record", "Outside Record"),
    )
    for index, person in enumerate(PATIENTS):
        chosen = contexts if index == 0 else contexts[:1]
        for number, (key, context, display) in enumerate(chosen):
            questions = next(q for k, _, _, q in QUESTIONNAIRES if k == key)
            b.add({
                "resourceType": "QuestionnaireResponse",
                "id": epic_id(f"qr-{key}-{person.key}"),
                "meta": {"tag": [{"system": QR_CONTEXT, "code": context, "display": display}]},
                "questionnaire": questionnaire_url(key),
                "status": "completed",
                "subject": _patient_ref(person),
                "authored": _instant(date(2026, 2, 10) + timedelta(days=number), 9),
                "author": _patient_ref(person),
                "item": [
                    {"linkId": link_id, "text": text,
                     "answer": [{"valueCoding": {"system": LOINC, "code": FREQUENCY_ANSWERS[(n + index) % 4][0],
                                                 "display": FREQUENCY_ANSWERS[(n + index) % 4][1]}}]}
                    for n, (link_id, text) in enumerate(questions)
                ],
            })


SERVICE_REQUESTS: tuple[tuple[str, str, str, str, str], ...] = (
    # context code, context display, code system, code, display
    ("orders", "Orders", LOINC, "24357-6", "Urinalysis macro (dipstick) panel"),
    ("referral", "Referral", SNOMED, "3457005", "Patient referral"),
    ("community-resource", "Community Resource ServiceRequest", SNOMED, "464131000124100",
     "Provision of food"),
    ("dental-procedure", "Dental Procedure", SNOMED, "234723000", "Dental cleaning"),
    ("external-radiotherapy-summary", "External Radiotherapy Summary", SNOMED, "108290001",
     "Radiation oncology AND/OR radiotherapy"),
    ("order-template-procedure", "Order Template Procedure", LOINC, "58410-2", "CBC panel"),
    ("outside-record", "Outside Record", LOINC, "4548-4", "Hemoglobin A1c"),
    ("pregnancy-plans", "Pregnancy Plans", SNOMED, "169560008", "Pregnant - urine test confirms"),
    ("prior-auth", "Prior Auth", "http://www.ama-assn.org/go/cpt", "72148", "MRI lumbar spine without contrast"),
)


def _service_requests(b: _Builder) -> None:
    for index, person in enumerate(PATIENTS):
        chosen = SERVICE_REQUESTS if index == 0 else SERVICE_REQUESTS[index % 2: index % 2 + 1]
        for number, (context, context_display, system, code, display) in enumerate(chosen):
            b.add({
                "resourceType": "ServiceRequest",
                "id": epic_id(f"service-request-{context}-{person.key}"),
                "identifier": [{"use": "usual", "system": f"{EPIC_OID}.2.798268",
                                "value": str(900000 + index * 20 + number)}],
                "status": "active",
                "intent": "order",
                "category": [concept(SERVICE_REQUEST_CATEGORY, context, context_display)],
                "code": concept(system, code, display),
                "subject": _patient_ref(person),
                "encounter": ref("Encounter", _encounter_id(person, number % _encounter_count(index))),
                "authoredOn": _instant(date(2026, 1, 5) + timedelta(days=number * 3), 14),
                "requester": ref("Practitioner", MAIN_PRACTITIONER, _practitioner_display(0)),
                "performer": [ref("Organization", epic_id("org-community") if context == "community-resource"
                                  else MAIN_ORGANIZATION)],
            })


def _communications(b: _Builder) -> None:
    main = PATIENTS[0]
    rows = (
        ("community-resource", "Community Resource Communication", "Your food pantry referral was received."),
        ("crm", "Customer Relationship Management", "Reminder: annual wellness visit is due."),
        ("patient-education", "Patient Education", "How to use a peak flow meter."),
    )
    for number, (category, display, text) in enumerate(rows):
        b.add({
            "resourceType": "Communication",
            "id": epic_id(f"communication-{category}-{main.key}"),
            "status": "completed",
            "category": [concept(COMMUNICATION_CATEGORY, category, display)],
            "subject": _patient_ref(main),
            "recipient": [_patient_ref(main)],
            "sender": ref("Organization", MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME),
            "sent": _instant(date(2026, 3, 1) + timedelta(days=number), 10),
            "payload": [{"contentString": text}],
        })
    for number in range(2):
        b.add({
            "resourceType": "Communication",
            "id": epic_id(f"communication-crm-nonpatient-{number}"),
            "status": "completed",
            "category": [concept(COMMUNICATION_CATEGORY, "crm", "Customer Relationship Management")],
            "recipient": [ref("Organization", epic_id("org-community"), "Harness Community Pantry")],
            "sender": ref("Organization", MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME),
            "sent": _instant(date(2026, 3, 10) + timedelta(days=number), 11),
            "payload": [{"contentString": f"Outreach campaign update {number + 1}."}],
        })
    for index, person in enumerate(PATIENTS[1:4], start=1):
        b.add({
            "resourceType": "Communication",
            "id": epic_id(f"communication-patient-education-{person.key}"),
            "status": "completed",
            "category": [concept(COMMUNICATION_CATEGORY, "patient-education", "Patient Education")],
            "subject": _patient_ref(person),
            "sent": _instant(date(2026, 3, 20) + timedelta(days=index), 10),
            "payload": [{"contentString": "After-visit instructions."}],
        })


def _tasks(b: _Builder) -> None:
    main = PATIENTS[0]
    for number, status in enumerate(("requested", "in-progress")):
        b.add({
            "resourceType": "Task",
            "id": epic_id(f"task-community-{main.key}-{number}"),
            "status": status,
            "intent": "order",
            "code": concept("http://hl7.org/fhir/CodeSystem/task-code", "fulfill",
                            "Fulfill the focal request"),
            "description": "Connect the patient with the community food pantry.",
            "focus": ref("ServiceRequest", epic_id(f"service-request-community-resource-{main.key}")),
            "for": _patient_ref(main),
            "authoredOn": _instant(date(2026, 1, 6) + timedelta(days=number), 9),
            "requester": ref("Practitioner", MAIN_PRACTITIONER, _practitioner_display(0)),
            "owner": ref("Organization", epic_id("org-community"), "Harness Community Pantry"),
        })


def _related_people(b: _Builder) -> None:
    rows = (
        ("friends-and-family", ("Rosa",), "Lopez", "female", "MTH", "mother"),
        ("proxy", ("Diego",), "Lopez", "male", "SPS", "spouse"),
    )
    for person_index, person in enumerate(PATIENTS[:3]):
        chosen = rows if person_index == 0 else rows[:1]
        for key, given, family, gender, code, display in chosen:
            family = family if person_index == 0 else person.family
            b.add({
                "resourceType": "RelatedPerson",
                "id": epic_id(f"related-{key}-{person.key}"),
                "active": True,
                "patient": _patient_ref(person),
                "relationship": [concept("http://terminology.hl7.org/CodeSystem/v3-RoleCode", code, display)],
                "name": [{"use": "usual", "text": f"{' '.join(given)} {family}", "family": family,
                          "given": list(given)}],
                "telecom": [{"system": "phone", "value": f"608-555-4{person_index}{len(key):02d}",
                             "use": "mobile"}],
                "gender": gender,
            })


def _appointments(b: _Builder) -> None:
    for index, person in enumerate(PATIENTS):
        rows: list[tuple[str, str, str, int]] = [("appointment", "Appointment", "booked", 0)]
        if index == 0:
            rows += [("appointment", "Appointment", "fulfilled", 1), ("surgery", "Surgery", "booked", 2),
                     ("appointment", "Appointment", "booked", 3)]
        for number, (category, category_display, status, slot_number) in enumerate(rows):
            day = date(2026, 5, 4) + timedelta(days=number * 7 + index) if status == "booked" \
                else date(2026, 2, 2)
            hour = 9 + number
            prac = 1 if category == "surgery" else 0
            loc_id, loc_name = (LOCATIONS[2] if category == "surgery" else LOCATIONS[0])[:2]
            appointment: dict[str, Any] = {
                "resourceType": "Appointment",
                "id": epic_id(f"appointment-{person.key}-{number}"),
                "identifier": [{"use": "usual", "system": f"{EPIC_OID}.3.698084.8",
                                "value": str(31000 + index * 10 + number)}],
                "status": status,
                "serviceCategory": [concept(APPOINTMENT_SERVICE_CATEGORY, category, category_display)],
                "serviceType": [concept(VISIT_TYPE_SYSTEM, "1004" if category == "appointment"
                                        else "2010", "Office Visit" if category == "appointment" else "Surgery")],
                "description": "Office Visit" if category == "appointment" else "Knee arthroscopy",
                "start": _instant(day, hour),
                "end": _instant(day, hour, 30),
                "minutesDuration": 30,
                "created": "2026-01-15T10:00:00Z",
                "participant": [
                    {"actor": _patient_ref(person), "required": "required", "status": "accepted"},
                    {"actor": ref("Practitioner", _practitioner_id(prac), _practitioner_display(prac)),
                     "required": "required", "status": "accepted"},
                    {"actor": ref("Location", loc_id, loc_name), "required": "required", "status": "accepted"},
                ],
            }
            if index == 0 and slot_number == 3:
                appointment["comment"] = "Prior authorization pending for follow-up imaging."
            b.add(appointment)


def _schedules_and_slots(b: _Builder) -> None:
    schedules = (
        (MAIN_SCHEDULE, 0, LOCATIONS[0]),
        (epic_id("schedule-surgery"), 1, LOCATIONS[2]),
        (epic_id("schedule-cardiology"), 2, LOCATIONS[3]),
    )
    for sched_index, (sched_id, prac, location) in enumerate(schedules):
        b.add({
            "resourceType": "Schedule",
            "id": sched_id,
            "active": True,
            "serviceCategory": concept(APPOINTMENT_SERVICE_CATEGORY, "appointment", "Appointment"),
            "actor": [ref("Practitioner", _practitioner_id(prac), _practitioner_display(prac)),
                      ref("Location", location[0], location[1])],
            "planningHorizon": {"start": "2026-05-01T00:00:00Z", "end": "2026-07-31T00:00:00Z"},
        }, stu3_only=True)
        for number in range(6 if sched_index == 0 else 3):
            day = date(2026, 5, 11) + timedelta(days=number // 2)
            hour = 9 + (number % 2) * 2
            slot_id = MAIN_SLOT if sched_index == 0 and number == 0 else epic_id(f"slot-{sched_index}-{number}")
            b.add({
                "resourceType": "Slot",
                "id": slot_id,
                "serviceType": [concept(VISIT_TYPE_SYSTEM, "1004", "Office Visit")],
                "schedule": ref("Schedule", sched_id),
                "status": "busy" if number == 5 else "free",
                "start": _instant(day, hour),
                "end": _instant(day, hour, 30),
            }, stu3_only=True)


BUILDERS = (
    _organizations, _locations, _practitioners, _endpoints, _patients, _coverages, _encounters,
    _conditions, _episodes, _lists, _flags, _consents, _documents, _questionnaires,
    _questionnaire_responses, _service_requests, _communications, _tasks, _related_people,
    _appointments, _schedules_and_slots,
)


# --- the population -------------------------------------------------------------------------


@dataclass(frozen=True)
class Population:
    """Resources by FHIR version, type and id (version-shaped, references relative)."""

    resources: Mapping[str, Mapping[str, Mapping[str, dict[str, Any]]]]

    def types(self, version: str) -> list[str]:
        return sorted(self.resources.get(version, {}))

    def get(self, version: str, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        return self.resources.get(version, {}).get(resource_type, {}).get(resource_id)

    def of_type(self, version: str, resource_type: str) -> list[dict[str, Any]]:
        return list(self.resources.get(version, {}).get(resource_type, {}).values())

    def all(self, version: str) -> Iterator[dict[str, Any]]:
        for by_id in self.resources.get(version, {}).values():
            yield from by_id.values()

    def count(self, version: str | None = None) -> int:
        versions: Iterable[str] = [version] if version else self.resources
        return sum(len(by_id) for v in versions for by_id in self.resources.get(v, {}).values())


def _build() -> Population:
    from .versions import DSTU2_TYPES, STU3_TYPES, to_dstu2, to_stu3

    builder = _Builder()
    for build in BUILDERS:
        build(builder)
    r4 = builder.r4
    stu3: dict[str, dict[str, dict[str, Any]]] = {
        t: {i: to_stu3(copy.deepcopy(r)) for i, r in r4[t].items()} for t in STU3_TYPES if t in r4
    }
    for resource_type, by_id in builder.stu3_only.items():
        stu3[resource_type] = by_id
    dstu2 = {t: {i: to_dstu2(copy.deepcopy(r)) for i, r in r4[t].items()} for t in DSTU2_TYPES}
    return Population({"R4": r4, "STU3": stu3, "DSTU2": dstu2})


@lru_cache(maxsize=1)
def default_population() -> Population:
    """The shipped population, built once per process (treat it as read-only)."""
    return _build()
