"""The population's building blocks: fixture ids, code systems, id and reference makers, the
people, and the builder that collects resources."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from xml.sax.saxutils import escape

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


def instant(day: date, hour: int, minute: int = 0) -> str:
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


def patient_id(person: Person) -> str:
    return person.key if person.key == MAIN_PATIENT else epic_id(person.key)


def practitioner_id(index: int) -> str:
    return MAIN_PRACTITIONER if index == 0 else epic_id(f"practitioner-{index:02d}")


def practitioner_npi(index: int) -> str:
    return MAIN_PRACTITIONER_NPI if index == 0 else npi(100_000_000 + index * 104_729)


def practitioner_display(index: int) -> str:
    given, family, _, _ = PRACTITIONER_NAMES[index]
    return f"{family} {given}, MD"


# --- builder --------------------------------------------------------------------------------



#: Types whose resources the builders write without an identifier, and the (invented) Epic OID of
#: the one each gets: like Epic's, every clinical record has an id of its own system.
RECORD_ID_SYSTEMS: dict[str, str] = {
    "Communication": f"{EPIC_OID}.2.737385", "Condition": f"{EPIC_OID}.2.768076", "Consent": f"{EPIC_OID}.2.730050",
    "EpisodeOfCare": f"{EPIC_OID}.2.726668", "Flag": f"{EPIC_OID}.2.727881", "List": f"{EPIC_OID}.2.807589",
    "PractitionerRole": f"{EPIC_OID}.2.836982", "QuestionnaireResponse": f"{EPIC_OID}.2.727880",
    "RelatedPerson": f"{EPIC_OID}.2.698094", "Task": f"{EPIC_OID}.2.769049",
}
#: Types whose ``identifier`` is one Identifier, not a list (R4).
SINGLE_IDENTIFIER = frozenset({"QuestionnaireResponse"})


class Builder:
    """Collects resources by type and id, in insertion order; a record of a type in
    :data:`RECORD_ID_SYSTEMS` written without an identifier gets one (numbered in order)."""

    def __init__(self) -> None:
        self.r4: dict[str, dict[str, dict[str, Any]]] = {}
        self.stu3_only: dict[str, dict[str, dict[str, Any]]] = {}

    def add(self, resource: dict[str, Any], *, stu3_only: bool = False) -> dict[str, Any]:
        store = self.stu3_only if stu3_only else self.r4
        kind = resource["resourceType"]
        by_id = store.setdefault(kind, {})
        if resource["id"] in by_id:
            raise ValueError(f"duplicate id {kind}/{resource['id']}")
        if kind in RECORD_ID_SYSTEMS and "identifier" not in resource:
            identifier = {"use": "usual", "system": RECORD_ID_SYSTEMS[kind], "value": str(100001 + len(by_id))}
            resource = {"resourceType": kind, "id": resource["id"],
                        "identifier": identifier if kind in SINGLE_IDENTIFIER else [identifier],
                        **{k: v for k, v in resource.items() if k not in ("resourceType", "id")}}
        by_id[resource["id"]] = resource
        return resource


def patient_ref(person: Person) -> dict[str, Any]:
    return ref("Patient", patient_id(person), person.display)


# --- what a chart says about a patient, wherever it says it ----------------------------------


def mrn(index: int) -> str:
    return f"E{4000 + index}"


def home_phone(index: int) -> str:
    return f"608-555-3{index:03d}"


def mobile_phone(index: int) -> str:
    return f"608-555-7{index:03d}"


def street(index: int) -> str:
    return f"{100 + index * 7} Sandbox Lane"


def member_id(index: int, plan: int) -> str:
    return f"HMI{700000 + index * 10 + plan}"


def identity_line(index: int) -> str:
    """``Camila Maria Lopez (DOB 1987-09-12, MRN E4000)``: how notes name a patient."""
    person = PATIENTS[index]
    return f"{person.text} (DOB {person.birth_date}, MRN {mrn(index)})"


def contact_line(index: int) -> str:
    person = PATIENTS[index]
    return (f"{street(index)}, {person.city}, {person.state} {person.postal_code}; "
            f"phone {home_phone(index)}, mobile {mobile_phone(index)}")


def narrative(*paragraphs: str) -> dict[str, str]:
    """A generated narrative (``text``) of escaped paragraphs, valid XHTML in every version."""
    body = "".join(f"<p>{escape(paragraph)}</p>" for paragraph in paragraphs)
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}

