"""Questionnaires: Epic's DTR operations ($questionnaire-package, $next-question, $log-questionnaire-errors)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.catalog import Api
from harness.checks import DECLARED, TOKEN, CheckContext, CheckFailed, check, data
from harness.client import TenantClient
from harness.config import Tenant
from harness.fhir.responses import expect_fhir

DTR = "Da Vinci DTR 2.1 operations, as Epic implements them (Questionnaire operations, R4)"
DTR_URL = "https://hl7.org/fhir/us/davinci-dtr/"
MAX_QUESTIONS = 10


def _post(client: TenantClient, api: Api, operation: str, body: dict[str, Any]) -> Any:
    response = client.post(client.url(str(api.version), f"Questionnaire/{operation}"), json=body,
                           headers={"Content-Type": "application/fhir+json"})
    return expect_fhir(response, f"POST Questionnaire/{operation}")


def _questionnaire(tenant: Tenant, api: Api) -> str:
    qid = tenant.test_data.get("questionnaire")
    if not qid:
        pytest.skip(f"{api.name} needs test_data.questionnaire (a Questionnaire id) in the tenant file")
    return str(qid)


@check("exercise.questionnaire-package", title="$questionnaire-package returns the questionnaire package",
       why="The app fetches the questionnaire and its libraries before asking the patient anything.",
       source=DTR, source_url=DTR_URL, group="exercise", exercises=True,
       applies_to=lambda api: api.interaction == "$questionnaire-package",
       needs=(TOKEN, DECLARED, data("questionnaire")))
def test_questionnaire_package(api: Api, tenant: Tenant, client: TenantClient, verdict: CheckContext) -> None:
    qid = _questionnaire(tenant, api)
    answer = _post(client, api, "$questionnaire-package", {"resourceType": "Parameters", "parameter": [
        {"name": "questionnaire", "valueCanonical": f"Questionnaire/{qid}"}]})
    if not isinstance(answer, dict) or answer.get("resourceType") not in ("Parameters", "Bundle"):
        raise CheckFailed(f"expected Parameters or a Bundle, got {answer.get('resourceType') if isinstance(answer, dict) else answer!r}",
                          category="tenant-fault")
    verdict.note(f"answered a {answer['resourceType']}")


@check("exercise.questionnaire-next-question", title="$next-question leads an adaptive questionnaire to completion",
       why="Adaptive questionnaires are answered one question at a time until the server says complete.",
       source=DTR, source_url=DTR_URL, group="exercise", exercises=True,
       applies_to=lambda api: api.interaction == "$next-question",
       needs=(TOKEN, DECLARED, data("questionnaire")), writes=True)
def test_next_question(api: Api, tenant: Tenant, client: TenantClient, verdict: CheckContext) -> None:
    qid = _questionnaire(tenant, api)
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse", "status": "in-progress",
        "contained": [{"resourceType": "Questionnaire", "id": "q", "status": "active",
                       "url": f"Questionnaire/{qid}"}],
        "questionnaire": "#q", "item": [],
    }
    if tenant.test_data.get("patient"):
        response["subject"] = {"reference": f"Patient/{tenant.test_data['patient']}"}
    for step in range(1, MAX_QUESTIONS + 1):
        answer = _post(client, api, "$next-question", {"resourceType": "Parameters", "parameter": [
            {"name": "in", "resource": response}]})
        out = answer
        if isinstance(answer, dict) and answer.get("resourceType") == "Parameters":
            out = next((p.get("resource") for p in answer.get("parameter") or [] if p.get("name") == "out"), None)
        if not isinstance(out, dict) or out.get("resourceType") != "QuestionnaireResponse":
            raise CheckFailed(f"step {step}: expected a QuestionnaireResponse, got {out!r:.80}", category="tenant-fault")
        if out.get("status") in ("completed", "complete"):
            verdict.note(f"complete after {step} step(s)")
            return
        for item in out.get("item") or []:
            if not item.get("answer"):
                item["answer"] = [{"valueBoolean": False}]
        response = out
    raise CheckFailed(f"not complete after {MAX_QUESTIONS} answers", category="tenant-fault")


@check("exercise.questionnaire-log-errors", title="$log-questionnaire-errors accepts an error report",
       why="The app reports questionnaire problems back so the customer's team can fix the build.",
       source=DTR, source_url=DTR_URL, group="exercise", exercises=True,
       applies_to=lambda api: api.interaction == "$log-questionnaire-errors",
       needs=(TOKEN, DECLARED, data("questionnaire")), writes=True)
def test_log_errors(api: Api, tenant: Tenant, client: TenantClient, verdict: CheckContext) -> None:
    qid = _questionnaire(tenant, api)
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational",
               "diagnostics": "Conformance test report from epic-fhir-harness; no action needed."}]}
    response = client.post(client.url(str(api.version), "Questionnaire/$log-questionnaire-errors"), json={
        "resourceType": "Parameters", "parameter": [{"name": "questionnaire", "valueCanonical": f"Questionnaire/{qid}"},
                                                    {"name": "errors", "resource": outcome}]},
        headers={"Content-Type": "application/fhir+json"})
    if response.status_code in (200, 201, 202, 204) and not response.content:
        verdict.note(f"accepted with HTTP {response.status_code} and no body")
        return
    answer = expect_fhir(response, "POST Questionnaire/$log-questionnaire-errors", status=(200, 201, 202))
    kind = answer.get("resourceType") if isinstance(answer, dict) else type(answer).__name__
    if kind not in ("OperationOutcome", "Parameters"):
        raise CheckFailed(f"$log-questionnaire-errors answered a {kind}, not an OperationOutcome or Parameters "
                          f"acknowledging the report", category="tenant-fault")
    errors = [i for i in (answer.get("issue") or []) if isinstance(i, dict) and i.get("severity") in ("error", "fatal")]
    if errors:
        raise CheckFailed(f"$log-questionnaire-errors refused the report: "
                          f"{errors[0].get('diagnostics') or errors[0].get('code')}", category="tenant-fault")
    verdict.note(f"accepted with HTTP {response.status_code} and a {kind}")
