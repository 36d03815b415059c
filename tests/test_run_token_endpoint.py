"""End to end: each token-endpoint probe fails against a sandbox that skips exactly that rule, and passes otherwise."""

from __future__ import annotations

import pytest

from harness.token_probes import PROBES

# The sandbox rule(s) a probe breaks: skipping them makes the sandbox accept that probe's request.
SKIPPED_RULES = {
    "grant-type": ["grant-type"],
    "assertion-type": ["assertion-type"],
    "json-body": ["form-body"],
    "aud": ["aud"],
    "iss": ["client", "iss-sub"],
    "iss-sub": ["iss-sub"],
    "unknown-client": ["client"],
    "exp-missing": ["exp-missing"],
    "exp-expired": ["exp-expired"],
    "exp-max": ["exp-max", "exp-nbf", "exp-iat"],
    "iat-future": ["iat-future", "nbf-future"],
    "jti-missing": ["jti-missing"],
    "alg-none": ["alg", "signature"],
    "hs256-public-key": ["alg", "signature"],
    "signature": ["signature"],
    "kid": ["kid"],
    "jku": ["jku"],
}
REFUSALS = ["-k", "refuses"]


def test_every_probe_has_a_fault_or_is_unskippable() -> None:
    assert set(SKIPPED_RULES) | {"missing-assertion"} == {p.id for p in PROBES}


def test_correct_token_endpoint_refuses_every_probe(sandbox_run) -> None:
    run = sandbox_run(pytest_args=REFUSALS)
    assert run.exit_code == 0, run.stdout[-3000:]
    outcomes = run.outcomes()
    assert len(outcomes) == len(PROBES) + 1
    assert set(outcomes.values()) <= {"passed", "warning"}, {k: v for k, v in outcomes.items() if v != "passed"}


@pytest.mark.parametrize("probe", sorted(SKIPPED_RULES))
def test_probe_catches_its_fault(sandbox_run, probe: str) -> None:
    run = sandbox_run(*[f"token-skip:{rule}" for rule in SKIPPED_RULES[probe]], pytest_args=REFUSALS)
    assert run.exit_code == 1
    failed = {k for k, v in run.outcomes().items() if v == "failed"}
    assert f"auth.token.refuses[{probe}]" in failed
    assert "SECURITY" in run.check(f"auth.token.refuses[{probe}]")["message"]
    assert "auth.token.refuses-replayed-jti" not in failed


def test_replayed_jti_caught(sandbox_run) -> None:
    run = sandbox_run("token-skip:jti-replay", pytest_args=REFUSALS)
    assert run.exit_code == 1
    failed = {k for k, v in run.outcomes().items() if v == "failed"}
    assert failed == {"auth.token.refuses-replayed-jti"}


def test_fhir_token_checks(sandbox_run) -> None:
    clean = sandbox_run("token-lifetime:3", pytest_args=["-k", "fhir and token"])
    assert clean.outcomes() == {"auth.fhir.no-token": "passed", "auth.fhir.invalid-token": "passed",
                                "auth.fhir.expired-token": "passed"}
    broken = sandbox_run("fhir-ignore-token", "token-lifetime:3", pytest_args=["-k", "fhir and token"])
    assert broken.exit_code == 1
    assert broken.outcomes() == {"auth.fhir.no-token": "failed", "auth.fhir.invalid-token": "failed",
                                 "auth.fhir.expired-token": "failed"}


def test_negative_checks_off_for_production_style_tenant(sandbox_run, tmp_path) -> None:
    from tests.conftest import tenant_variant

    tenant = tenant_variant(tmp_path, replace={"[checks]\n": "[checks]\nnegative_auth = false\n"})
    run = sandbox_run("token-skip:aud", pytest_args=REFUSALS, tenant=tenant)
    assert run.exit_code == 0
    assert set(run.outcomes().values()) == {"skipped"}


def test_token_endpoint_500_is_one_clear_failure_and_asked_once(sandbox_run) -> None:
    run = sandbox_run("token-500", pytest_args=["-m", "auth or exercise", "-k", "not refuses and not expired"])
    assert run.exit_code == 1
    issued = run.check("auth.token.issued")
    assert issued["outcome"] == "failed" and "HTTP 500" in issued["message"]
    assert run.summary["stats"]["token_requests"] == 1
    exercised = [c for c in run.summary["checks"] if c["check_id"] == "exercise.search"]
    assert exercised and all("no access token" in c["message"] for c in exercised if c["outcome"] == "failed")


def test_app_jwks_checked_against_the_key(sandbox_run) -> None:
    run = sandbox_run(pytest_args=["-k", "jwks or assertion_rules"])
    assert run.outcomes() == {"auth.jwks.matches-key": "passed", "auth.assertion.rules": "passed"}


def test_token_response_shape_caught(sandbox_run) -> None:
    select = ["-k", "test_token_response or test_token_issued"]
    assert sandbox_run(pytest_args=select).outcomes()["auth.token.response"] == "passed"
    for fault, words in [("token-response-set:token_type=\"mac\"", "token_type is 'mac'"),
                         ("token-response-set:expires_in=\"3600\"", "expires_in is '3600'"),
                         ("token-response-set:scope=null", "scope is missing")]:
        run = sandbox_run(fault, pytest_args=select)
        check = run.check("auth.token.response")
        assert check["outcome"] == "failed" and words in check["message"], (fault, check["message"])
