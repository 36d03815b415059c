"""Questionnaires and the patients' answers to them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from .base import (
    Builder, LOINC, MAIN_ORGANIZATION_NAME, MAIN_QUESTIONNAIRE_NAME, PATIENTS, QR_CONTEXT,
    QUESTIONNAIRE_BASE, epic_id, home_phone, identity_line, instant, patient_ref,
)

#: Questionnaires whose questions are answered in free text (the others by choice).
FREE_TEXT = frozenset({"imaging-prior-auth", "code-status"})

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


def questionnaires(b: Builder) -> None:
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
            "item": [_question(key, link_id, text) for link_id, text in questions],
        })


def _question(key: str, link_id: str, text: str) -> dict[str, Any]:
    if key in FREE_TEXT:
        return {"linkId": link_id, "text": text, "type": "string", "required": True}
    return {"linkId": link_id, "text": text, "type": "choice", "required": True,
            "answerOption": [{"valueCoding": {"system": LOINC, "code": code, "display": display}}
                             for code, display in FREQUENCY_ANSWERS]}


def _free_text(key: str, number: int, index: int) -> str:
    """A free-text answer, written as people write them: with the patient's details in it."""
    answers = {
        "imaging-prior-auth": (f"MRI lumbar spine for {identity_line(index)}",
                               "Since 2026-01-05, worse after a fall at home",
                               f"Yes; physical therapy notes faxed, call {home_phone(index)} with questions"),
        "code-status": (f"Full code; discussed with {PATIENTS[index].text} and her mother Rosa Lopez",),
    }
    return answers[key][number % len(answers[key])]


def _answer(key: str, number: int, index: int) -> dict[str, Any]:
    if key in FREE_TEXT:
        return {"valueString": _free_text(key, number, index)}
    code, display = FREQUENCY_ANSWERS[(number + index) % 4]
    return {"valueCoding": {"system": LOINC, "code": code, "display": display}}


def questionnaire_responses(b: Builder) -> None:
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
                "subject": patient_ref(person),
                "authored": instant(date(2026, 2, 10) + timedelta(days=number), 9),
                "author": patient_ref(person),
                "item": [{"linkId": link_id, "text": text, "answer": [_answer(key, n, index)]}
                         for n, (link_id, text) in enumerate(questions)],
            })


