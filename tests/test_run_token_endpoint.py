"""End to end: each token-endpoint probe fails against a sandbox that skips exactly that rule, and passes otherwise."""

from __future__ import annotations

import pytest

from harness.token_probes import PROBES
from tests.conftest import INCOMPLETE

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
    assert run.exit_code == INCOMPLETE, run.stdout[-3000:]  # a selection of the checks verifies only part
    assert run.summary["gate"] == "incomplete"
    outcomes = run.outcomes()
    assert len(outcomes) == len(PROBES) + 1
    assert set(outcomes.values()) <= {"passed", "warning"}, {k: v for k, v in outcomes.items() if v != "passed"}


# End to end for one probe of each kind (a claim, the form, the algorithm, the key); every probe meets
# its own rule in process in tests/test_token_probes_sandbox.py.
END_TO_END_PROBES = ("aud", "json-body", "alg-none", "signature")


@pytest.mark.parametrize("probe", END_TO_END_PROBES)
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
    clean = sandbox_run("token-lifetime:1", pytest_args=["-k", "fhir and token"])
    assert clean.outcomes() == {"auth.fhir.no-token": "passed", "auth.fhir.invalid-token": "passed",
                                "auth.fhir.expired-token": "passed"}
    broken = sandbox_run("fhir-ignore-token", "token-lifetime:1", pytest_args=["-k", "fhir and token"])
    assert broken.exit_code == 1
    assert broken.outcomes() == {"auth.fhir.no-token": "failed", "auth.fhir.invalid-token": "failed",
                                 "auth.fhir.expired-token": "failed"}


def test_negative_checks_off_for_production_style_tenant(sandbox_run, tmp_path) -> None:
    from tests.conftest import tenant_variant

    tenant = tenant_variant(tmp_path, replace={"[checks]\n": "[checks]\nnegative_auth = false\n"})
    run = sandbox_run("token-skip:aud", pytest_args=REFUSALS, tenant=tenant)
    assert run.exit_code == INCOMPLETE
    assert set(run.outcomes().values()) == {"skipped"}
    assert all("negative auth checks are off" in c["message"] for c in run.summary["checks"]
               if c["check_id"].startswith("auth.token.refuses"))


def test_token_endpoint_500_is_one_clear_failure_and_asked_once(sandbox_run) -> None:
    run = sandbox_run("token-500", pytest_args=["-m", "auth or exercise", "-k", "not refuses and not expired"])
    assert run.exit_code == 1
    issued = run.check("auth.token.issued")
    assert issued["outcome"] == "failed" and "HTTP 500" in issued["message"]
    assert run.summary["stats"]["token_requests"] == 1
    exercised = [c for c in run.summary["checks"] if c["check_id"] == "exercise.search"]
    assert exercised and all(c["outcome"] == "blocked" and c["blocked_by"] == "auth.token.issued"
                             for c in exercised)
    assert [r["check"] for r in run.summary["root_causes"]] == ["auth.token.issued"]


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


# -- against an independent, non-Epic SMART Backend Services server that checks the scope first --------------

# the checks these tests judge (token endpoint, scopes, FHIR-side token checks, the Patient read they probe)
AUTH_AND_PATIENT = ["-k", "auth or token or scopes or preflight or Demographics"]


def _independent_run(tmp_path, pytest_args=AUTH_AND_PATIENT, **server):
    from tests.conftest import run_harness
    from tests.support.smart_server import smart_server, tenant_file
    from tests.support.served import Served

    scope = server.pop("scope", None)
    with Served(smart_server(**server)) as url:
        tenant = tenant_file(tmp_path, url, scope=scope)
        return run_harness(tmp_path / "report", "--tenant", str(tenant), pytest_args=pytest_args)


def test_without_an_accepted_control_no_probe_is_called_refused(tmp_path) -> None:
    run = _independent_run(tmp_path, lax=frozenset({"exp-max", "jti-missing", "jti-replay"}))
    probes = {k: v for k, v in run.outcomes().items() if k.startswith("auth.token.refuses")}
    assert len(probes) == len(PROBES) + 1
    assert set(probes.values()) == {"inconclusive"}, probes
    assert all("not proven" in c["message"] and "invalid_scope" in c["message"] for c in run.summary["checks"]
               if c["id"] in probes)
    issued = run.check("auth.token.issued")
    assert issued["outcome"] == "failed" and "invalid_scope" in issued["message"]
    assert issued["category"] == "vendor-credentials"
    assert run.check("exercise.read[Patient.Read (Demographics) (R4)]")["blocked_by"] == "auth.token.issued"
    html = (run.report_dir / "summary.html").read_text()
    assert "Not proven: not proven" in html and "READY" not in html.replace("NOT READY", "")
    assert run.exit_code == 1


def test_with_the_scope_sent_the_lax_rules_are_security_failures(tmp_path) -> None:
    run = _independent_run(tmp_path, lax=frozenset({"exp-max", "jti-missing", "jti-replay"}),
                           scope="system/Patient.rs")
    outcomes = run.outcomes()
    failed = {k for k, v in outcomes.items() if v == "failed"}
    assert failed == {"auth.token.refuses[exp-max]", "auth.token.refuses[jti-missing]",
                      "auth.token.refuses-replayed-jti"}, failed
    assert all("SECURITY" in run.check(k)["message"] for k in failed)
    refused = {k: v for k, v in outcomes.items() if k.startswith("auth.token.refuses[") and k not in failed}
    assert set(refused.values()) <= {"passed", "warning"}, {k: v for k, v in refused.items() if v not in ("passed", "warning")}
    # the FHIR-side checks probe the read that answered 200 to the token
    for check in ("auth.fhir.no-token", "auth.fhir.invalid-token"):
        assert outcomes[check] == "passed" and "Patient/p1" in run.check(check)["notes"][0]
    assert run.check("exercise.read[Patient.Read (Demographics) (R4)]")["outcome"] == "passed"
    assert run.exit_code == 1
    html = (run.report_dir / "summary.html").read_text()
    assert "server&#x27;s operators" in html and "Epic technical services" not in html  # not Epic: plain words


def test_a_correct_non_epic_server_passes_every_auth_check(tmp_path) -> None:
    run = _independent_run(tmp_path, scope="system/Patient.rs", pytest_args=())  # every check: no false failure
    outcomes = run.outcomes()
    auth = {k: v for k, v in outcomes.items() if k.startswith("auth.")}
    assert {v for k, v in auth.items() if k != "auth.fhir.expired-token"} <= {"passed", "warning"}, auth
    assert run.summary["gate"] in ("passed", "incomplete") and not run.summary["gate_reasons"]


def test_an_unregistered_client_is_one_failure_and_the_rest_blocked(sandbox_run, tmp_path) -> None:
    from tests.conftest import tenant_variant

    tenant = tenant_variant(tmp_path, replace={'client_id = "harness-sandbox-nonprod"': 'client_id = "nobody-0000"'})
    run = sandbox_run(tenant=tenant)
    assert run.exit_code == 1
    counts = run.summary["counts"]
    failed = [c for c in run.summary["checks"] if c["outcome"] == "failed"]
    assert [c["id"] for c in failed] == ["auth.token.issued"], [(c["id"], c["message"][:80]) for c in failed]
    assert failed[0]["category"] == "vendor-credentials" and "invalid_client" in failed[0]["message"]
    assert counts["blocked"] > 250
    inconclusive = {k for k, v in run.outcomes().items() if v == "inconclusive"}
    assert inconclusive == {f"auth.token.refuses[{p.id}]" for p in PROBES} | {"auth.token.refuses-replayed-jti",
                                                                             "scopes.unknown-refused"}
    assert run.summary["root_causes"][0]["check"] == "auth.token.issued"
    assert len(run.stdout.splitlines()) < 250
    html = (run.report_dir / "summary.html").read_text()
    assert "Not proven" in html


def test_a_server_granting_whatever_is_asked_fails_the_scope_checks(tmp_path) -> None:
    run = _independent_run(tmp_path, lax=frozenset({"scopes"}), scope="system/Patient.rs")
    outcomes = run.outcomes()
    assert outcomes["scopes.unknown-refused"] == "failed" and "NoSuchResourceType" in run.check("scopes.unknown-refused")["message"]
    assert outcomes["scopes.write-outside-registration"] == "failed"
    assert "SECURITY" in run.check("scopes.write-outside-registration")["message"]
    assert outcomes["auth.token.refuses[aud]"] in ("passed", "warning")  # the assertion rules still hold
