"""The gate as a pure function of the results, the policy and the baseline."""

from __future__ import annotations

from harness.policy import GatePolicy
from harness.run.gate import GateInput, decide
from harness.run.outcome import EXIT_ERROR, EXIT_FAILED, EXIT_INCOMPLETE, EXIT_PASSED, GateState, Outcome
from harness.run.results import ApiRow, CheckResult


def result(check_id: str, outcome: str, *, api: str | None = None, group: str | None = None, message: str = "",
           blocked_by: str | None = None, required: bool = True) -> CheckResult:
    rid = f"{check_id}[{api}]" if api else check_id
    return CheckResult(id=rid, check_id=check_id, title=check_id, why="", source="", source_url=None,
                       severity="critical", area="x", outcome=Outcome(outcome), message=message, api=api, group=group,
                       blocked_by=blocked_by, required=required)


def row(name: str, declared: bool | None = True, granted: bool | None = True) -> ApiRow:
    return ApiRow(name=name, group="g", version="R4", declared=declared, granted=granted, exercised=Outcome.PASSED,
                  detail={})


def gate(checks, apis=(), policy=GatePolicy(), baseline=None, crashed=None):
    return decide(GateInput(list(checks), list(apis), policy, baseline, crashed))


def test_passed_only_when_every_required_check_ran_and_passed() -> None:
    g = gate([result("a", "passed"), result("b", "warning")])
    assert g.state is GateState.PASSED and g.exit_code == EXIT_PASSED and not g.reasons


def test_a_failure_fails() -> None:
    g = gate([result("a", "passed"), result("b", "failed", message="no")])
    assert g.state is GateState.FAILED and g.exit_code == EXIT_FAILED and g.reasons == ["b: failed: no"]


def test_blocked_inconclusive_skipped_and_deselected_make_it_incomplete() -> None:
    for outcome in ("blocked", "inconclusive", "skipped"):
        g = gate([result("a", "passed"), result("b", outcome, message="why")])
        assert g.state is GateState.INCOMPLETE and g.exit_code == EXIT_INCOMPLETE, outcome
        assert g.not_verified and not g.reasons


def test_no_check_at_all_is_incomplete_not_passed() -> None:
    g = gate([])
    assert g.state is GateState.INCOMPLETE and g.not_verified == ["no check ran"]


def test_a_crash_is_an_error_whatever_ran() -> None:
    g = gate([result("a", "passed")], crashed="internal error: KeyError: 'token'")
    assert g.state is GateState.ERROR and g.exit_code == EXIT_ERROR and "KeyError" in g.reasons[0]


def test_a_broken_check_is_an_error_but_a_failure_wins() -> None:
    assert gate([result("a", "broken")]).state is GateState.ERROR
    assert gate([result("a", "broken"), result("b", "failed")]).state is GateState.FAILED


def test_blocked_checks_are_listed_once_per_root_cause() -> None:
    checks = [result("auth.token.issued", "failed", message="invalid_client")] + [
        result("exercise.read", "blocked", api=f"A{i}", blocked_by="auth.token.issued", message="no token")
        for i in range(290)]
    g = gate(checks)
    assert g.state is GateState.FAILED
    assert g.not_verified == ["290 check(s) blocked by auth.token.issued: no token"]


def test_advisory_checks_that_do_not_run_decide_nothing_but_their_failures_count() -> None:
    assert gate([result("a", "passed"), result("p", "skipped", required=False)]).state is GateState.PASSED
    assert gate([result("a", "passed"), result("p", "failed", required=False)]).state is GateState.FAILED
    assert gate([result("a", "passed"), result("p", "broken", required=False)]).state is GateState.ERROR


def test_policy_waives_optional_apis_but_never_discovery_or_auth() -> None:
    policy = GatePolicy(required_groups=frozenset({"Scheduling"}))
    waived = gate([result("exercise.read", "failed", api="X", group="Directory")], policy=policy)
    assert waived.state is GateState.PASSED and waived.waived
    kept = gate([result("discovery.x", "failed"), result("auth.token.issued", "failed")], policy=policy)
    assert kept.state is GateState.FAILED and len(kept.reasons) == 2


def test_baseline_waives_known_failures_only() -> None:
    baseline = {"checks": [{"id": "a", "outcome": "failed"}, {"id": "b", "outcome": "passed"},
                           {"id": "c", "outcome": "skipped"}], "apis": []}
    g = gate([result("a", "failed"), result("b", "passed"), result("c", "passed")], baseline=baseline)
    assert g.state is GateState.PASSED and g.waived and g.waived[0].startswith("not a regression")
    worse = gate([result("a", "failed"), result("b", "failed")], baseline=baseline)
    assert worse.state is GateState.FAILED and worse.reasons == ["regression: b: failed"]
    # what was not verified before and is not verified now is still not verified
    assert gate([result("c", "skipped")], baseline=baseline).state is GateState.INCOMPLETE


def test_baseline_api_that_lost_declared_or_granted_is_a_regression() -> None:
    baseline = {"checks": [], "apis": [{"name": "P", "declared": True, "granted": True}]}
    g = gate([result("a", "passed")], apis=[row("P", declared=False)], baseline=baseline)
    assert g.state is GateState.FAILED and g.reasons == ["regression: P: declared was true in the baseline, now false"]
    g = gate([result("a", "passed")], apis=[row("P", granted=False)], baseline=baseline)
    assert g.reasons == ["regression: P: granted was true in the baseline, now false"]
    optional = GatePolicy(optional_apis=frozenset({"P"}))
    assert gate([result("a", "passed")], apis=[row("P", declared=False)], baseline=baseline,
                policy=optional).state is GateState.PASSED


def test_a_requested_api_no_check_exercised_is_not_verified() -> None:
    idle = ApiRow(name="P", group="g", version="R4", declared=True, granted=True, exercised=None, detail={},
                  verified=False, not_verified="not exercised in this run")
    g = gate([result("a", "passed")], apis=[idle])
    assert g.state is GateState.INCOMPLETE and g.not_verified == ["P: not exercised in this run"]
    assert gate([result("a", "passed")], apis=[idle], policy=GatePolicy(optional_apis=frozenset({"P"}))).passed


def test_a_policy_can_make_a_warning_fail() -> None:
    wide = result("scopes.granted-as-requested", "warning")
    wide.warnings = ["granted wider than requested: 149 scope(s)"]
    assert gate([wide]).state is GateState.PASSED
    strict = GatePolicy(warnings_fail=frozenset({"scopes.granted-as-requested"}))
    g = gate([wide], policy=strict)
    assert g.state is GateState.FAILED and "granted wider" in g.reasons[0]
