"""The clinical record: encounters, conditions, episodes, lists, flags, consents, documents,
service requests, communications and tasks."""

from __future__ import annotations

import base64
from datetime import date, timedelta
from typing import Any

from .base import (
    ACT_CODE, Builder, COMMUNICATION_CATEGORY, CONDITION_CATEGORY, CONSENT_CATEGORY, EPIC_LIST_CODES,
    EPIC_OID, FLAG_CATEGORY, LIST_USE_CODES, LOINC, MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME,
    MAIN_PRACTITIONER, PARTICIPATION, PATIENTS, PATIENT_LIST_SYSTEM, PATIENT_LIST_VALUE, PRACTITIONER_NAMES,
    Person, SERVICE_REQUEST_CATEGORY, SNOMED, concept, contact_line, epic_id, home_phone, identity_line, instant,
    mrn, narrative, patient_ref, practitioner_display, practitioner_id, ref,
)
from .directory import LOCATIONS

ENCOUNTER_TYPES: tuple[tuple[str, str, str], ...] = (
    ("AMB", "ambulatory", "Office Visit"),
    ("AMB", "ambulatory", "Telemedicine"),
    ("AMB", "ambulatory", "Procedure Visit"),
    ("IMP", "inpatient encounter", "Hospital Encounter"),
    ("EMER", "emergency", "Emergency"),
)


def encounter_count(index: int) -> int:
    """Camila has enough encounters for three pages of ten; the others a few each."""
    return 26 if index == 0 else 2


def encounter_day(index: int, number: int) -> date:
    """Five weeks apart from January 2024; Camila's last one is still to come."""
    return date(2024, 1, 8) + timedelta(days=number * 35 + index * 5)


def encounter_id(person: Person, number: int) -> str:
    return epic_id(f"encounter-{person.key}-{number:02d}")


def encounters(b: Builder) -> None:
    for index, person in enumerate(PATIENTS):
        for number in range(encounter_count(index)):
            day = encounter_day(index, number)
            code, class_display, type_text = ENCOUNTER_TYPES[number % len(ENCOUNTER_TYPES)]
            prac = (number + index) % len(PRACTITIONER_NAMES) if number % 3 else 0
            loc_id, loc_name = LOCATIONS[number % len(LOCATIONS)][:2]
            planned = day > date(2026, 4, 30)
            encounter: dict[str, Any] = {
                "resourceType": "Encounter",
                "id": encounter_id(person, number),
                "text": narrative(f"{type_text} for {identity_line(index)} on {day.isoformat()}",
                                  f"{loc_name}, with {practitioner_display(prac)}"),
                "identifier": [{"use": "usual", "system": f"{EPIC_OID}.3.698084.8",
                                "value": str(27000 + index * 100 + number)}],
                "status": "planned" if planned else "finished",
                "class": {"system": ACT_CODE, "code": code, "display": class_display},
                "type": [concept(f"{EPIC_OID}.10.698084.30", str(101 + number % 5), type_text)],
                "serviceType": concept(f"{EPIC_OID}.10.698084.18886", "124", "General Medicine"),
                "subject": patient_ref(person),
                "participant": [{
                    "type": [concept(PARTICIPATION, "ATND", "attender")],
                    "period": {"start": instant(day, 15)},
                    "individual": ref("Practitioner", practitioner_id(prac), practitioner_display(prac)),
                }],
                "period": {"start": instant(day, 15)} if planned else
                          {"start": instant(day, 15), "end": instant(day, 15, 40)},
                "reasonCode": [concept(SNOMED, "185349003", "Encounter for check up", "Check-up")],
                "hospitalization": {"preAdmissionIdentifier": {"use": "usual", "system": f"{EPIC_OID}.2.698084",
                                                               "value": f"PRE{27000 + index * 100 + number}"}}
                if planned else {"dischargeDisposition": concept("http://terminology.hl7.org/CodeSystem/"
                                                                 "discharge-disposition", "home", "Home")},
                "location": [{"location": ref("Location", loc_id, loc_name)}],
                "serviceProvider": ref("Organization", MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME),
            }
            if number < condition_count(index):  # the reason for visit recorded at this visit
                encounter["reasonReference"] = [ref("Condition", condition_id(person, number),
                                                    REASONS[(number + index) % len(REASONS)][1])]
            b.add(encounter)


REASONS: tuple[tuple[str, str], ...] = (
    ("185349003", "Encounter for check up"),
    ("25064002", "Headache"),
    ("49727002", "Cough"),
    ("161891005", "Back pain"),
    ("271807003", "Rash"),
)


def condition_count(index: int) -> int:
    """Reasons for visit recorded: at Camila's first five visits, at the others' first."""
    return 5 if index == 0 else 1


def condition_id(person: Person, number: int) -> str:
    return epic_id(f"condition-rfv-{person.key}-{number}")


def conditions(b: Builder) -> None:
    for index, person in enumerate(PATIENTS):
        for number in range(condition_count(index)):
            code, display = REASONS[(number + index) % len(REASONS)]
            onset = encounter_day(index, number)
            b.add({
                "resourceType": "Condition",
                "id": condition_id(person, number),
                "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                          "resolved", "Resolved"),
                "verificationStatus": concept("http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                              "confirmed", "Confirmed"),
                "category": [concept(CONDITION_CATEGORY, "reason-for-visit", "Reason for Visit")],
                "code": concept(SNOMED, code, display),
                "subject": patient_ref(person),
                "encounter": ref("Encounter", encounter_id(person, number)),
                "onsetDateTime": onset.isoformat(),
                "recordedDate": instant(onset, 15, 5),
                "note": [{"authorReference": ref("Practitioner", MAIN_PRACTITIONER, practitioner_display(0)),
                          "time": instant(onset, 15, 10),
                          "text": f"{identity_line(index)} reports {display.lower()} since {onset.isoformat()}; "
                                  f"call back on {home_phone(index)} if it gets worse."}],
            })


def episodes(b: Builder) -> None:
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
                "patient": patient_ref(person),
                "managingOrganization": ref("Organization", MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME),
                "period": period,
                "careManager": ref("Practitioner", MAIN_PRACTITIONER, practitioner_display(0)),
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


def lists(b: Builder) -> None:
    for index, person in enumerate(PATIENTS):
        for code, system, display, items in PATIENT_LISTS:
            entries = items if index == 0 or code in ("allergies", "medications") else ()
            resource: dict[str, Any] = {
                "resourceType": "List",
                "id": epic_id(f"list-{code}-{person.key}"),
                "status": "current",
                "mode": "working",  # a living list, kept up to date; its entries carry their dates (lst-3)
                "title": display,
                "code": concept(system, code, display),
                "subject": patient_ref(person),
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
            "source": ref("Practitioner", MAIN_PRACTITIONER, practitioner_display(0)),
            "entry": [{"item": patient_ref(person)} for person in members],
        })


FLAGS: tuple[tuple[str, str, str, str], ...] = (
    # category code, category display, flag code, flag display
    ("health-concern", "Health Concern", "1149222004", "Fall risk"),
    ("infection", "Infection", "186150001", "MRSA carrier"),
    ("isolation", "Isolation", "40174006", "Contact isolation"),
    ("patient-fyi", "Patient FYI", "397745006", "Prefers morning appointments"),
)


def flags(b: Builder) -> None:
    for index, person in enumerate(PATIENTS):
        chosen = FLAGS if index == 0 else (FLAGS[index % len(FLAGS)],)
        for category, category_display, code, display in chosen:
            b.add({
                "resourceType": "Flag",
                "id": epic_id(f"flag-{category}-{person.key}"),
                "status": "active",
                "category": [concept(FLAG_CATEGORY, category, category_display)],
                "code": concept(SNOMED, code, display),
                "subject": patient_ref(person),
                "period": {"start": "2025-11-03"},
                "author": ref("Practitioner", MAIN_PRACTITIONER, practitioner_display(0)),
            })


def consents(b: Builder) -> None:
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
                "patient": patient_ref(person),
                "dateTime": "2025-09-15T16:00:00Z",
                "organization": [ref("Organization", MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME)],
                "policy": [{"uri": "http://fhir.harness.example/policy/" + category}],
            })


def _progress_note(index: int, day: date) -> str:
    person = PATIENTS[index]
    return (f"PROGRESS NOTE {day.isoformat()}\n"
            f"Patient: {person.display}  DOB: {person.birth_date}  MRN: {mrn(index)}\n"
            f"Address: {contact_line(index)}\n"
            f"Seen in clinic for follow-up. Vitals stable. Plan discussed with {person.given[0]}; "
            f"return in 3 months.\n")


def documents(b: Builder) -> None:
    for index, person in enumerate(PATIENTS[:4]):
        day = date(2026, 3, 2) + timedelta(days=index)
        b.add({
            "resourceType": "DocumentReference",
            "id": epic_id(f"document-{person.key}"),
            "identifier": [{"use": "usual", "system": f"{EPIC_OID}.2.727879", "value": str(44100 + index)}],
            "status": "current",
            "docStatus": "final",
            "type": concept(LOINC, "11506-3", "Progress note"),
            "category": [concept("http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                                 "clinical-note", "Clinical Note")],
            "subject": patient_ref(person),
            "date": instant(day, 16),
            "author": [ref("Practitioner", MAIN_PRACTITIONER, practitioner_display(0))],
            "text": narrative(f"Progress note for {identity_line(index)}", f"Written {day.isoformat()}"),
            "content": [{"attachment": {
                "contentType": "text/plain", "language": "en-US", "title": f"Progress note - {person.display}",
                "creation": instant(day, 16),
                "data": base64.b64encode(_progress_note(index, day).encode("utf-8")).decode("ascii"),
            }, "format": {"system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode",
                          "code": "urn:ihe:iti:xds:2017:mimeTypeSufficient", "display": "mimeType Sufficient"}}],
            "context": {"encounter": [ref("Encounter", encounter_id(person, 0))],
                        "period": {"start": instant(day, 15), "end": instant(day, 16)}},
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


def _occurrence(authored: date, number: int) -> dict[str, Any]:
    """When a request is to be done: a day some weeks after it was written, or a window."""
    start = authored + timedelta(days=14 + number)
    if number % 3 == 2:
        return {"occurrencePeriod": {"start": start.isoformat(), "end": (start + timedelta(days=30)).isoformat()}}
    return {"occurrenceDateTime": instant(start, 9)}


def service_requests(b: Builder) -> None:
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
                "subject": patient_ref(person),
                "encounter": ref("Encounter", encounter_id(person, number % encounter_count(index))),
                "authoredOn": instant(date(2026, 1, 5) + timedelta(days=number * 3), 14),
                **_occurrence(date(2026, 1, 5) + timedelta(days=number * 3), number),
                "requester": ref("Practitioner", MAIN_PRACTITIONER, practitioner_display(0)),
                "performer": [ref("Organization", epic_id("org-community") if context == "community-resource"
                                  else MAIN_ORGANIZATION)],
                "note": [{"text": f"Order for {identity_line(index)}: {display}. Reach the patient at "
                                  f"{home_phone(index)}."}],
            })


def communications(b: Builder) -> None:
    main = PATIENTS[0]
    rows = (
        ("community-resource", "Community Resource Communication",
         f"Dear {main.given[0]}, your food pantry referral was received; we will call you at {home_phone(0)}."),
        ("crm", "Customer Relationship Management", "Reminder: annual wellness visit is due."),
        ("patient-education", "Patient Education", "How to use a peak flow meter."),
    )
    for number, (category, display, text) in enumerate(rows):
        b.add({
            "resourceType": "Communication",
            "id": epic_id(f"communication-{category}-{main.key}"),
            "status": "completed",
            "category": [concept(COMMUNICATION_CATEGORY, category, display)],
            "subject": patient_ref(main),
            "recipient": [patient_ref(main)],
            "sender": ref("Organization", MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME),
            "sent": instant(date(2026, 3, 1) + timedelta(days=number), 10),
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
            "sent": instant(date(2026, 3, 10) + timedelta(days=number), 11),
            "payload": [{"contentString": f"Outreach campaign update {number + 1}."}],
        })
    for index, person in enumerate(PATIENTS[1:4], start=1):
        b.add({
            "resourceType": "Communication",
            "id": epic_id(f"communication-patient-education-{person.key}"),
            "status": "completed",
            "category": [concept(COMMUNICATION_CATEGORY, "patient-education", "Patient Education")],
            "subject": patient_ref(person),
            "sent": instant(date(2026, 3, 20) + timedelta(days=index), 10),
            "payload": [{"contentString": "After-visit instructions."}],
        })


def tasks(b: Builder) -> None:
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
            "for": patient_ref(main),
            "authoredOn": instant(date(2026, 1, 6) + timedelta(days=number), 9),
            "requester": ref("Practitioner", MAIN_PRACTITIONER, practitioner_display(0)),
            "owner": ref("Organization", epic_id("org-community"), "Harness Community Pantry"),
            "note": [{"authorString": "Harness Community Pantry intake",
                      "time": instant(date(2026, 1, 7) + timedelta(days=number), 11),
                      "text": f"Left a message for {identity_line(0)} at {home_phone(0)}."}],
        })


