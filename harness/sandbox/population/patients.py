"""Patients, their coverage and the people related to them."""

from __future__ import annotations

import hashlib
from typing import Any

from .base import (
    Builder, CEID_SYSTEM, CLINICAL_SEX_URL, DSTU2_ID_SYSTEM, EPIC_OID, EPI_SYSTEM,
    FHIR_ID_SYSTEM, LEGAL_SEX_URL, MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME, MRN_SYSTEM, PATIENTS,
    SEX_SYSTEM, V2_0203, concept, contact_line, epic_id, home_phone, identity_line, member_id,
    mobile_phone, mrn, narrative, patient_id, patient_ref, practitioner_display, practitioner_id, ref, street,
)

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition"
OMB = "urn:oid:2.16.840.1.113883.6.238"
#: OMB race categories and ethnicities, in turn for each patient
RACES: tuple[tuple[str, str], ...] = (
    ("2106-3", "White"), ("2054-5", "Black or African American"), ("2028-9", "Asian"),
    ("1002-5", "American Indian or Alaska Native"), ("2076-8", "Native Hawaiian or Other Pacific Islander"),
)
ETHNICITIES: tuple[tuple[str, str], ...] = (("2135-2", "Hispanic or Latino"), ("2186-5", "Not Hispanic or Latino"))
#: US Core's sex (SNOMED CT) and gender identity (SNOMED CT, VSAC 2.16.840.1.113762.1.4.1021.32)
SEX_CODES = {"female": ("248152002", "Female"), "male": ("248153007", "Male")}
GENDER_IDENTITIES = {"female": ("446141000124107", "Identifies as female gender"),
                     "male": ("446151000124109", "Identifies as male gender")}
TRIBAL_ENTITY = "http://terminology.hl7.org/CodeSystem/v3-TribalEntityUS"


def us_core_extensions(index: int, sex: str) -> list[dict[str, Any]]:
    """The US Core Patient extensions: race, ethnicity, sex, gender identity, and (Camila and the
    American Indian patients) a tribal affiliation."""
    race_code, race = RACES[index % len(RACES)] if index else ("2106-3", "White")
    ethnicity_code, ethnicity = ETHNICITIES[0] if index in (0, 11, 12) else ETHNICITIES[1]
    sex_code, _ = SEX_CODES[sex]
    identity_code, identity = GENDER_IDENTITIES[sex]
    found: list[dict[str, Any]] = [
        {"url": f"{US_CORE}/us-core-race", "extension": [
            {"url": "ombCategory", "valueCoding": {"system": OMB, "code": race_code, "display": race}},
            {"url": "text", "valueString": race}]},
        {"url": f"{US_CORE}/us-core-ethnicity", "extension": [
            {"url": "ombCategory", "valueCoding": {"system": OMB, "code": ethnicity_code, "display": ethnicity}},
            {"url": "text", "valueString": ethnicity}]},
        {"url": f"{US_CORE}/us-core-sex", "valueCode": sex_code},
        {"url": f"{US_CORE}/us-core-genderIdentity",
         "valueCodeableConcept": concept("http://snomed.info/sct", identity_code, identity)},
    ]
    if index == 0 or race_code == "1002-5":
        found.append({"url": f"{US_CORE}/us-core-tribal-affiliation", "extension": [
            {"url": "tribalAffiliation", "valueCodeableConcept": {
                "coding": [{"system": TRIBAL_ENTITY, "code": "187"}], "text": "Tribal affiliation on record"}},
            {"url": "isEnrolled", "valueBoolean": index != 0}]})
    return found


def patients(b: Builder) -> None:
    for index, person in enumerate(PATIENTS):
        pat_id = patient_id(person)
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
                *us_core_extensions(index, sex),
            ],
            "identifier": [
                {"use": "usual", "type": {"text": "CEID"}, "system": CEID_SYSTEM,
                 "value": f"FHR{hashlib.sha256(pat_id.encode()).hexdigest()[:12].upper()}"},
                {"use": "usual", "type": {"coding": [{"system": V2_0203, "code": "MR"}], "text": "EPIC"},
                 "system": MRN_SYSTEM, "value": mrn(index)},
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
            "text": narrative(f"{person.text}, {person.gender}, born {person.birth_date}",
                              f"MRN {mrn(index)}", contact_line(index)),
            "telecom": [
                {"system": "phone", "value": home_phone(index), "use": "home", "rank": 1},
                {"system": "phone", "value": mobile_phone(index), "use": "mobile", "rank": 2},
                {"system": "email", "value": f"patient{index + 1:02d}@mail.harness.example", "rank": 3},
            ],
            "gender": sex,
            "birthDate": person.birth_date,
            "deceasedBoolean": False,
            "address": [{
                "use": "home",
                "line": [street(index)],
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
            "generalPractitioner": [ref("Practitioner", practitioner_id(gp), practitioner_display(gp))],
            "managingOrganization": ref("Organization", MAIN_ORGANIZATION, MAIN_ORGANIZATION_NAME),
        })



def coverages(b: Builder) -> None:
    payer = epic_id("org-payer")
    for index, person in enumerate(PATIENTS):
        plans = [("commercial", "Harness Mutual PPO")]
        if index == 0:
            plans.append(("dental", "Harness Mutual Dental"))
        for plan_index, (kind, name) in enumerate(plans):
            b.add({
                "resourceType": "Coverage",
                "id": epic_id(f"coverage-{person.key}-{plan_index}"),
                "text": narrative(f"{name} for {identity_line(index)}",
                                  f"Member ID {member_id(index, plan_index)}, group HMG-{2200 + index}"),
                "identifier": [
                    {"use": "usual", "system": f"{EPIC_OID}.2.726582", "value": f"{5000 + index * 10 + plan_index}"},
                    {"use": "official", "type": {"coding": [{"system": V2_0203, "code": "MB", "display": "Member Number"}],
                                                 "text": "Member Number"},
                     "system": "urn:oid:2.16.840.1.113883.3.9999.726582", "value": member_id(index, plan_index)},
                ],
                "status": "active",
                "type": concept("http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                "EHCPOL" if kind == "commercial" else "DENTPRG",
                                "extended healthcare" if kind == "commercial" else "dental program", name),
                "subscriberId": member_id(index, plan_index),
                "subscriber": patient_ref(person),
                "beneficiary": patient_ref(person),
                "dependent": "01",
                "relationship": concept("http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                                        "self", "Self"),
                "period": {"start": "2025-01-01", "end": "2026-12-31"},
                "payor": [ref("Organization", payer, "Harness Mutual Insurance")],
                "class": [
                    {"type": concept("http://terminology.hl7.org/CodeSystem/coverage-class", "group", "Group"),
                     "value": f"HMG-{2200 + index}", "name": f"{name} group for {person.family}"},
                    {"type": concept("http://terminology.hl7.org/CodeSystem/coverage-class", "plan", "Plan"),
                     "value": "PPO-1" if kind == "commercial" else "DEN-1", "name": name},
                ],
            })



def related_people(b: Builder) -> None:
    rows = (
        ("friends-and-family", ("Rosa",), "Lopez", "female", "MTH", "mother"),
        ("proxy", ("Diego",), "Lopez", "male", "SPS", "spouse"),
    )
    born = {"MTH": -27, "SPS": 1}  # years from the patient's birth
    for person_index, person in enumerate(PATIENTS[:3]):
        chosen = rows if person_index == 0 else rows[:1]
        for key, given, family, gender, code, display in chosen:
            family = family if person_index == 0 else person.family
            b.add({
                "resourceType": "RelatedPerson",
                "id": epic_id(f"related-{key}-{person.key}"),
                "active": True,
                "patient": patient_ref(person),
                "relationship": [concept("http://terminology.hl7.org/CodeSystem/v3-RoleCode", code, display)],
                "name": [{"use": "usual", "text": f"{' '.join(given)} {family}", "family": family,
                          "given": list(given)}],
                "telecom": [{"system": "phone", "value": f"608-555-4{person_index}{len(key):02d}",
                             "use": "mobile"}],
                "gender": gender,
                "birthDate": f"{int(person.birth_date[:4]) + born[code]}{person.birth_date[4:]}",
                "address": [{"use": "home", "line": [street(person_index)], "city": person.city,
                             "state": person.state, "postalCode": person.postal_code, "country": "US"}],
            })


