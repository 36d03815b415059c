"""The FHIR operations the sandbox answers: a registry of handlers, each given only what it
names (see ``base.py``). Others are answered 501; a GET of a known one is 405."""

from __future__ import annotations

from .base import Handler
from .match import patient_match
from .questionnaires import log_questionnaire_errors, next_question, questionnaire_package
from .scheduling import Proposals, appointment_book, appointment_find

#: (FHIR version, resource type, operation name without '$') -> handler
OPERATIONS: dict[tuple[str, str, str], Handler] = {
    ("R4", "Patient", "match"): patient_match,
    ("R4", "Questionnaire", "next-question"): next_question,
    ("R4", "Questionnaire", "questionnaire-package"): questionnaire_package,
    ("R4", "Questionnaire", "log-questionnaire-errors"): log_questionnaire_errors,
    ("STU3", "Appointment", "find"): appointment_find,
    ("STU3", "Appointment", "book"): appointment_book,
}

__all__ = ["OPERATIONS", "Proposals"]
