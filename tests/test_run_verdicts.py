"""Verdicts backed by evidence, end to end against the sandbox made to misbehave: each situation the harness
once misjudged, with the verdict it now gives."""

from __future__ import annotations

import httpx
import pytest

from harness.checks import CheckContext, CheckFailed, Inconclusive
from tests.conftest import FAILED, INCOMPLETE, tenant_variant

ENCOUNTER = "exercise.search[Encounter.Search (Patient Chart) (R4)]"


def test_59204_for_a_context_the_app_did_not_request_is_a_note_not_a_failure(sandbox_run) -> None:
    run = sandbox_run("fhir-suppressed-context:Encounter=Outside Record", pytest_args=["-k", "Encounter and search"])
    check = run.check(ENCOUNTER)
    assert check["outcome"] in ("passed", "warning"), check["message"]
    assert any("Outside Record, a context the app does not request" in n for n in check["notes"]), check["notes"]
    assert run.exit_code == INCOMPLETE and not run.summary["gate_reasons"]


def test_59204_for_the_context_the_api_asks_fails_it(sandbox_run) -> None:
    run = sandbox_run("fhir-suppressed-context:Encounter=Patient Chart", pytest_args=["-k", "Encounter and search"])
    check = run.check(ENCOUNTER)
    assert check["outcome"] == "failed" and "(Patient Chart) context of Encounter is withheld" in check["message"]
    assert check["category"] == "tenant-configuration"
    row = run.api("Encounter.Search (Patient Chart) (R4)")
    assert row["granted"] is False and "59204" in row["detail"]["granted"]  # the scope says yes, the answer no


def test_a_correct_tenant_paging_the_standard_way_reports_no_quirk(sandbox_run) -> None:
    epic = sandbox_run(pytest_args=["-k", "Encounter and search and not probe"])
    assert any("Bundle.total" in w for w in epic.check(ENCOUNTER)["warnings"])  # Epic's per-page total
    standard = sandbox_run("fhir-standard-paging", pytest_args=["-k", "Encounter and search and not probe"])
    check = standard.check(ENCOUNTER)
    assert check["outcome"] == "passed" and not any("Bundle.total" in w for w in check["warnings"]), check


def test_throttling_during_probing_is_never_a_finding(sandbox_run, tmp_path) -> None:
    tenant = tenant_variant(tmp_path, replace={"[probing]\nexamples = 5": "[probing]\nexamples = 6\nseed = 7"})
    run = sandbox_run("transport-429-every:Encounter=3", tenant=tenant,
                      pytest_args=["-m", "probing", "-k", "Encounter and Chart and R4"])
    probe = run.check("probe.search[Encounter.Search (Patient Chart) (R4)]")
    assert probe["outcome"] in ("passed", "warning"), probe["message"]
    assert run.summary["stats"]["throttled_429"] > 0  # the tenant did throttle
    assert any("example(s) sent of 6" in n for n in probe["notes"]), probe["notes"]


def test_a_provider_search_answering_other_providers_leaves_step_1_undone(sandbox_run) -> None:
    run = sandbox_run("sds-provider-ignored", pytest_args=["-m", "scheduling", "-k", "test_find"])
    steps = {s["step"][0]: (s["verdict"], s["evidence"]) for s in
             run.check("scheduling.find[Appointment.$find (STU3)]")["data"]["sds"]}
    assert steps["1"][0] == "not done" and "other providers' slots" in steps["1"][1]
    assert steps["2"][0] == "done"
    assert run.exit_code == FAILED


def test_an_epic_token_endpoint_checking_scope_first_gives_no_false_refusal(sandbox_run, tmp_path) -> None:
    faults = ("token-order:scope", "token-scope-grant:required", "token-skip:jti-missing", "token-skip:jti-replay",
              "token-skip:exp-max", "token-skip:exp-nbf", "token-skip:exp-iat")  # exp-max breaks the windows too
    without = sandbox_run(*faults, pytest_args=["-m", "auth", "-k", "refuses or issued"])
    refuses = {k: v for k, v in without.outcomes().items() if k.startswith("auth.token.refuses")}
    assert set(refuses.values()) == {"inconclusive"}, refuses  # no control accepted: nothing proven
    scoped = tenant_variant(tmp_path, replace={'algorithm = "RS384"': 'algorithm = "RS384"\nscope = "system/Patient.rs"'})
    with_scope = sandbox_run(*faults, tenant=scoped, pytest_args=["-m", "auth", "-k", "refuses or issued"])
    failed = {k for k, v in with_scope.outcomes().items() if v == "failed"}
    assert failed == {"auth.token.refuses[exp-max]", "auth.token.refuses[jti-missing]",
                      "auth.token.refuses-replayed-jti"}, failed


# -- the FHIR-side auth probe: a path that answers something else than 401 proves nothing -------------------

def _judge(status: int, headers: dict | None = None) -> CheckContext:
    from suites.test_token_endpoint import _expect_401

    verdict = CheckContext()
    _expect_401(httpx.Response(status, headers=headers or {}), "no token", "https://t/api/FHIR/R4/Patient/p", verdict)
    return verdict


def test_a_404_without_a_token_is_inconclusive_not_a_failure() -> None:
    with pytest.raises(Inconclusive, match="answered HTTP 404"):
        _judge(404)
    with pytest.raises(CheckFailed, match="SECURITY"):
        _judge(200)
    assert _judge(401).notes and not _judge(401).warnings
    assert _judge(403).warnings  # refused, but not with the status RFC 6750 gives
