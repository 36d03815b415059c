"""Epic's 59204 read by the context it names, on Epic's real answers: only a requested context withheld fails."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from harness.catalog import load_catalog
from harness.checks import CheckContext, CheckFailed
from harness.client import TenantClient
from harness.config import load_tenant
from harness.fhir.paging import follow_search
from suites.exercise import judge_search, withheld_contexts
from tests.conftest import SANDBOX_TENANT

EPIC = Path(__file__).resolve().parents[1] / "data" / "epic"


def _body(name: str) -> dict:
    return json.loads((EPIC / name).read_text())["body"]


def _search(body: dict):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body, headers={"content-type": "application/fhir+json"})

    tenant = load_tenant(SANDBOX_TENANT, base_url="https://epic.example.org/interconnect")
    client = TenantClient(tenant, transport=httpx.MockTransport(handler))
    client.use_tokens(lambda: "test-token-0000", lambda: None)
    return follow_search(client, client.url("R4", "Encounter"), params={"patient": "x"}, resource_type=None)


def api(name: str):
    found = load_catalog().get(name)
    assert found is not None, name
    return found


def test_a_correct_epic_encounter_search_with_59204_for_outside_record_passes() -> None:
    result = _search(_body("mh-encounter-search-erXuFYUfucBZaryVksYEcMg3.json"))
    assert withheld_contexts(result.outcomes)[0] == [("Encounter", "Outside Record")]
    verdict = CheckContext()
    judge_search(api("Encounter.Search (Patient Chart) (R4)"), result, verdict,
                 (api("Encounter.Search (Patient Chart) (R4)"),))
    assert any("does not request" in n for n in verdict.notes) and not verdict.warnings
    assert len(result.resources) == 10


def test_the_same_answer_fails_the_outside_record_api_when_the_app_requests_it() -> None:
    result = _search(_body("mh-encounter-search-erXuFYUfucBZaryVksYEcMg3.json"))
    outside = api("Encounter.Search (Outside Record) (R4)")
    chart = api("Encounter.Search (Patient Chart) (R4)")
    with pytest.raises(CheckFailed, match=r"\(Outside Record\) context of Encounter is withheld"):
        judge_search(outside, result, CheckContext(), (chart, outside))
    verdict = CheckContext()
    judge_search(chart, result, verdict, (chart, outside))  # the other API is judged on its own
    assert any("which the app requests as Encounter.Search (Outside Record) (R4)" in n for n in verdict.notes)


def test_a_condition_search_with_4101_and_two_59204s_is_not_a_failure_of_reason_for_visit() -> None:
    result = _search(_body("mh-condition-search-empty-result-outcome.json"))
    named, unreadable = withheld_contexts(result.outcomes)
    assert named == [("Condition", "Outside Record Problems"), ("Condition", "Outside Record Health Concern")]
    assert not unreadable
    verdict = CheckContext()
    judge_search(api("Condition.Search (Reason for Visit) (R4)"), result, verdict)
    assert any("4101" in n for n in verdict.notes)
    with pytest.raises(CheckFailed, match="Outside Record Problems"):
        judge_search(api("Condition.Search (Outside Record Problems) (R4)"), result, CheckContext())


def test_a_59204_naming_no_context_is_a_warning_not_a_guess() -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "suppressed", "details": {
        "coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369", "code": "59204",
                    "display": "The authenticated client's search request applies to a sub-resource that the client "
                               "is not authorized for."}]}}]}
    body = {"resourceType": "Bundle", "type": "searchset", "total": 0,
            "entry": [{"resource": outcome, "search": {"mode": "outcome"}}]}
    verdict = CheckContext()
    judge_search(api("Encounter.Search (Patient Chart) (R4)"), _search(body), verdict)
    assert verdict.warnings and "without a context" in verdict.warnings[0]
