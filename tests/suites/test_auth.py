"""The token checks of suites/test_auth.py judged in process: the run's token issued, the shape of the token
response, the granted scopes parsed; each on the correct sandbox and with the fault that breaks it, and what a
failed token does to the rest of the run (one root cause, asked once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.report.html import render
from harness.token_probes import PROBES
from tests.conftest import tenant_variant
from tests.support.checks import judge, judge_each, judge_run, results_of, tenant_state

UNREGISTERED = {'client_id = "harness-sandbox-nonprod"': 'client_id = "nobody-0000"'}


def test_a_correct_sandbox_issues_the_token_in_one_request() -> None:
    with tenant_state() as state:
        judged = [judge(state, c) for c in ("auth.token.issued", "auth.token.response", "auth.token.scopes-parse")]
    assert [j.outcome for j in judged] == ["passed"] * 3, judged
    issued, response, parsed = judged
    assert issued.result.notes == ["1 token request(s) in this run"]
    assert any("expires_in is 3600 s" in n for n in response.result.notes)  # Epic's lifetime: a note, no warning
    assert "resource scopes granted, SMART v" in parsed.result.notes[0]


def test_a_token_endpoint_500_is_one_clear_failure_and_asked_once() -> None:
    with tenant_state("token-500") as state:
        issued = judge(state, "auth.token.issued")
        after = {**judge_each(state, "auth.token.response"), **judge_each(state, "exercise.search")}
        results = results_of(state)
        sent = state.token_requests
    assert issued.outcome == "failed" and "HTTP 500" in issued.message
    assert sent == 1  # the refusal is remembered: no check asks again
    assert len(after) > 20 and {j.result.blocked_by for j in after.values()} == {"auth.token.issued"}
    assert {j.outcome for j in after.values()} == {"blocked"}
    assert [r.check for r in results.root_causes()] == ["auth.token.issued"]
    assert results.gate.exit_code == 1


def test_an_unregistered_client_fails_the_token_for_the_vendor_and_blocks_the_rest(tmp_path: Path) -> None:
    with tenant_state(tenant_file=tenant_variant(tmp_path, replace=UNREGISTERED)) as state:
        judged = judge_run(state)  # every check a run collects
        results = results_of(state)
    failed = [k for k, j in judged.items() if j.outcome == "failed"]
    assert failed == ["auth.token.issued"], failed
    issued = judged["auth.token.issued"]
    assert issued.result.category == "vendor-credentials" and "invalid_client" in issued.message
    assert results.counts()["blocked"] > 250
    inconclusive = {k for k, j in judged.items() if j.outcome == "inconclusive"}
    assert inconclusive == {f"auth.token.refuses[{p.id}]" for p in PROBES} | {"auth.token.refuses-replayed-jti",
                                                                             "scopes.unknown-refused"}
    # the app's own credentials are checked before any request, so they still pass
    assert judged["auth.assertion.rules"].outcome == judged["auth.jwks.matches-key"].outcome == "passed"
    assert results.root_causes()[0].check == "auth.token.issued"
    assert "Not proven" in render(results)


@pytest.mark.parametrize(("fault", "words"), [
    ('token-response-set:token_type="mac"', "token_type is 'mac', expected bearer"),
    ('token-response-set:expires_in="3600"', "expires_in is '3600', expected a number of seconds"),
    ("token-response-set:scope=null", "scope is missing"),
])
def test_a_token_response_of_the_wrong_shape_fails(fault: str, words: str) -> None:
    with tenant_state(fault) as state:
        issued, response = judge(state, "auth.token.issued"), judge(state, "auth.token.response")
    assert issued.outcome == "passed"  # a token was issued: only its response is wrong
    assert response.outcome == "failed" and words in response.message, response
    assert response.result.category == "tenant-fault"


def test_a_refresh_token_is_a_warning() -> None:
    with tenant_state('token-response-set:refresh_token="r-0000000000000000"') as state:
        response = judge(state, "auth.token.response")
    assert response.outcome == "warning" and "refresh_token was issued" in response.message


@pytest.mark.parametrize(("scope", "words", "category"), [
    ("system/Patient.qq system/Patient.rs", "malformed scopes in the token response: system/Patient.qq", "tenant-fault"),
    ("openid fhirUser", "the token grants no resource scopes at all", "tenant-configuration"),
])
def test_granted_scopes_that_cannot_be_read_fail(scope: str, words: str, category: str) -> None:
    with tenant_state(f'token-response-set:scope="{scope}"') as state:
        parsed = judge(state, "auth.token.scopes-parse")
    assert parsed.outcome == "failed" and words in parsed.message
    assert parsed.result.category == category
