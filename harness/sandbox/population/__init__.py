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

import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from . import clinical, directory, patients, questionnaires, scheduling
from .base import (  # the fixtures and code systems, for tenant files and tests
    MAIN_PATIENT, MAIN_PRACTITIONER, MAIN_PRACTITIONER_NPI, MAIN_PRACTITIONER_FAMILY, MAIN_ORGANIZATION,
    MAIN_ORGANIZATION_NAME, MAIN_LOCATION, MAIN_LOCATION_NAME, MAIN_ENDPOINT, MAIN_SCHEDULE,
    MAIN_SLOT, MAIN_QUESTIONNAIRE_NAME, PATIENT_LIST_SYSTEM, PATIENT_LIST_VALUE, EPIC_OID,
    NPI_SYSTEM, LEGAL_SEX_URL, CLINICAL_SEX_URL, SEX_SYSTEM, EPI_SYSTEM,
    MRN_SYSTEM, CEID_SYSTEM, FHIR_ID_SYSTEM, DSTU2_ID_SYSTEM, V2_0203,
    ACT_CODE, PARTICIPATION, LIST_USE_CODES, EPIC_LIST_CODES, FLAG_CATEGORY,
    CONDITION_CATEGORY, CONSENT_CATEGORY, APPOINTMENT_SERVICE_CATEGORY, COMMUNICATION_CATEGORY, SERVICE_REQUEST_CATEGORY,
    VISIT_TYPE_SYSTEM, QR_CONTEXT, SNOMED, LOINC, QUESTIONNAIRE_BASE,
    SANDBOX_ROOT, PATIENTS, PRACTITIONER_NAMES, Person, epic_id,
    npi, ref, concept,
)
from .base import Builder
from .directory import LOCATIONS
from .questionnaires import FREQUENCY_ANSWERS, QUESTIONNAIRES, questionnaire_url

BUILDERS = (
    directory.organizations, directory.locations, directory.practitioners, directory.endpoints, patients.patients,
    patients.coverages, clinical.encounters, clinical.conditions, clinical.episodes, clinical.lists, clinical.flags,
    clinical.consents, clinical.documents, questionnaires.questionnaires, questionnaires.questionnaire_responses,
    clinical.service_requests, clinical.communications, clinical.tasks, patients.related_people,
    scheduling.appointments, scheduling.schedules_and_slots,
)



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

    builder = Builder()
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


__all__ = [
    'MAIN_PATIENT', 'MAIN_PRACTITIONER', 'MAIN_PRACTITIONER_NPI', 'MAIN_PRACTITIONER_FAMILY', 'MAIN_ORGANIZATION',
    'MAIN_ORGANIZATION_NAME', 'MAIN_LOCATION', 'MAIN_LOCATION_NAME', 'MAIN_ENDPOINT', 'MAIN_SCHEDULE',
    'MAIN_SLOT', 'MAIN_QUESTIONNAIRE_NAME', 'PATIENT_LIST_SYSTEM', 'PATIENT_LIST_VALUE', 'EPIC_OID',
    'NPI_SYSTEM', 'LEGAL_SEX_URL', 'CLINICAL_SEX_URL', 'SEX_SYSTEM', 'EPI_SYSTEM',
    'MRN_SYSTEM', 'CEID_SYSTEM', 'FHIR_ID_SYSTEM', 'DSTU2_ID_SYSTEM', 'V2_0203',
    'ACT_CODE', 'PARTICIPATION', 'LIST_USE_CODES', 'EPIC_LIST_CODES', 'FLAG_CATEGORY',
    'CONDITION_CATEGORY', 'CONSENT_CATEGORY', 'APPOINTMENT_SERVICE_CATEGORY', 'COMMUNICATION_CATEGORY', 'SERVICE_REQUEST_CATEGORY',
    'VISIT_TYPE_SYSTEM', 'QR_CONTEXT', 'SNOMED', 'LOINC', 'QUESTIONNAIRE_BASE',
    'SANDBOX_ROOT', 'PATIENTS', 'PRACTITIONER_NAMES', 'Person', 'epic_id',
    'npi', 'ref', 'concept', 'LOCATIONS', 'FREQUENCY_ANSWERS',
    'QUESTIONNAIRES', 'questionnaire_url', 'BUILDERS', 'Population', 'default_population',
]
