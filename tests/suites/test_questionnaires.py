"""The questionnaire operations (suites/test_questionnaires.py) judged in process: each passes on the correct
sandbox, fails when the tenant answers 500 or answers the wrong thing, and is not run without its test data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.checks import judge, sandbox_app, sandbox_tenant, tenant_state
from tests.support.front import Front, Headers

PACKAGE = ("exercise.questionnaire-package", "Questionnaire.$questionnaire-package (R4)")
NEXT = ("exercise.questionnaire-next-question", "Questionnaire.$next-question (R4)")
LOG = ("exercise.questionnaire-log-errors", "Questionnaire.$log-questionnaire-errors (R4)")
ALL = (PACKAGE, NEXT, LOG)


def _answer(operation: str, body: dict[str, Any]) -> Front:
    """The sandbox, except that POST Questionnaire/<operation> answers ``body``."""
    def rewrite(scope: dict[str, Any], status: int, headers: Headers, got: bytes) -> tuple[int, Headers, bytes]:
        if scope["path"].endswith(f"/Questionnaire/{operation}"):
            return 200, [(b"content-type", b"application/fhir+json")], json.dumps(body).encode()
        return status, headers, got
    return Front(sandbox_app(), rewrite)


def test_each_operation_passes_on_the_correct_sandbox() -> None:
    with tenant_state() as state:
        judged = [judge(state, check_id, api=api) for check_id, api in ALL]
    assert [j.outcome for j in judged] == ["passed"] * 3, judged
    assert judged[0].result.notes == ["answered a Parameters"] or judged[0].result.notes == ["answered a Bundle"]
    assert any(n.startswith("complete after") for n in judged[1].result.notes)


@pytest.mark.parametrize(("check_id", "api"), ALL)
def test_each_operation_fails_when_the_tenant_answers_500(check_id: str, api: str) -> None:
    waits: list[float] = []
    with tenant_state("fhir-status:Questionnaire=500", sleep=waits.append) as state:
        judged = judge(state, check_id, api=api)
    assert judged.outcome == "failed" and "HTTP 500" in judged.message and judged.result.category == "tenant-fault"


@pytest.mark.parametrize(("check", "operation", "body", "words"), [
    (PACKAGE, "$questionnaire-package", {"resourceType": "Patient", "id": "x"}, "expected Parameters or a Bundle"),
    (NEXT, "$next-question", {"resourceType": "QuestionnaireResponse", "status": "in-progress",
                              "item": [{"linkId": "1"}]}, "not complete after 10 answers"),
    (LOG, "$log-questionnaire-errors", {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "processing", "diagnostics": "report refused"}]}, "refused the report"),
    (LOG, "$log-questionnaire-errors", {"resourceType": "Patient", "id": "x"}, "not an OperationOutcome or Parameters"),
])
def test_a_wrong_answer_fails_the_operation(check: tuple[str, str], operation: str, body: dict[str, Any],
                                            words: str) -> None:
    with tenant_state(app=_answer(operation, body)) as state:
        judged = judge(state, check[0], api=check[1])
    assert judged.outcome == "failed" and words in judged.message, judged
    assert judged.result.category == "tenant-fault"


def test_without_a_questionnaire_in_the_test_data_nothing_is_sent() -> None:
    with tenant_state(tenant=sandbox_tenant(test_data={"questionnaire": None})) as state:
        judged = [judge(state, check_id, api=api) for check_id, api in ALL]
        sent = [e.url for e in state.client.log if "/Questionnaire/" in e.url]
    assert [j.outcome for j in judged] == ["skipped"] * 3 and sent == []
    assert all("test_data.questionnaire" in j.message and j.result.category == "test-data" for j in judged)
