"""The gate as a pure function of the results, the policy and the baseline: every state and every reason."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.policy import GatePolicy
from harness.run.gate import NOT_EXERCISED, GateInput, decide
from harness.run.outcome import EXIT_ERROR, EXIT_FAILED, EXIT_INCOMPLETE, EXIT_PASSED, GateState, Outcome
from harness.run.results import ApiRow, CheckResult, Gate
from tests.support.results import api_row, check_result


def result(check_id: str, outcome: str, *, api: str | None = None, group: str | None = None, message: str = "",
           blocked_by: str | None = None, required: bool = True) -> CheckResult:
    return check_result(check_id, outcome, api=api, group=group, message=message, blocked_by=blocked_by,
                        required=required)


def row(name: str, declared: bool | None = True, granted: bool | None = True, group: str = "g") -> ApiRow:
    return api_row(name, group, declared=declared, granted=granted)


def gate(checks, apis=(), policy=GatePolicy(), baseline=None, crashed=None) -> Gate:
    return decide(GateInput(list(checks), list(apis), policy, baseline, crashed))


def test_passed_only_when_every_required_check_ran_and_passed() -> None:
    g = gate([result("a", "passed"), result("b", "warning")])
    assert g.state is GateState.PASSED and g.exit_code == EXIT_PASSED and g.passed
    assert not g.reasons and not g.not_verified and not g.waived


@pytest.mark.parametrize(("outcome", "state", "listed_in"), [
    ("passed", GateState.PASSED, None),
    ("warning", GateState.PASSED, None),
    ("failed", GateState.FAILED, "reasons"),
    ("broken", GateState.ERROR, "reasons"),
    ("blocked", GateState.INCOMPLETE, "not_verified"),
    ("inconclusive", GateState.INCOMPLETE, "not_verified"),
    ("skipped", GateState.INCOMPLETE, "not_verified"),
])
def test_each_outcome_of_a_required_check(outcome: str, state: GateState, listed_in: str | None) -> None:
    g = gate([result("a", "passed"), result("b", outcome, message="why", blocked_by="x" if outcome == "blocked" else None)])
    assert g.state is state and g.exit_code == state.exit_code
    lists = {"reasons": g.reasons, "not_verified": g.not_verified}
    for name, items in lists.items():
        assert bool(items) == (name == listed_in), (name, items)
    if listed_in:
        line = lists[listed_in][0]
        assert line == ("1 check(s) blocked by x: why" if outcome == "blocked" else f"b: {outcome}: why")


def test_a_failure_is_listed_with_its_message_or_without_one() -> None:
    g = gate([result("a", "passed"), result("b", "failed", message="no"), result("c", "failed")])
    assert g.state is GateState.FAILED and g.exit_code == EXIT_FAILED and g.reasons == ["b: failed: no", "c: failed"]


def test_blocked_inconclusive_skipped_and_deselected_make_it_incomplete() -> None:
    for outcome in ("blocked", "inconclusive", "skipped"):
        g = gate([result("a", "passed"), result("b", outcome, message="why")])
        assert g.state is GateState.INCOMPLETE and g.exit_code == EXIT_INCOMPLETE, outcome
        assert g.not_verified and not g.reasons
    deselected = result("b", "skipped", message="deselected: not selected by -m or -k in this run")
    assert gate([result("a", "passed"), deselected]).not_verified == [f"b: skipped: {deselected.message}"]


def test_no_check_at_all_is_incomplete_not_passed() -> None:
    g = gate([])
    assert g.state is GateState.INCOMPLETE and g.not_verified == ["no check ran"]


def test_a_crash_is_an_error_whatever_ran() -> None:
    g = gate([result("a", "passed")], crashed="internal error: KeyError: 'token'")
    assert g.state is GateState.ERROR and g.exit_code == EXIT_ERROR
    assert g.reasons == ["the run did not finish: internal error: KeyError: 'token'"]
    assert gate([], crashed="interrupted").not_verified == []  # "no check ran" is not the news


def test_a_crash_outranks_a_failure_and_keeps_it_listed() -> None:
    g = gate([result("a", "failed", message="no")], crashed="interrupted before every check ran")
    assert g.state is GateState.ERROR
    assert g.reasons == ["the run did not finish: interrupted before every check ran", "a: failed: no"]


def test_a_broken_check_is_an_error_but_a_failure_wins() -> None:
    assert gate([result("a", "broken")]).state is GateState.ERROR
    both = gate([result("a", "broken", message="harness error: KeyError"), result("b", "failed", message="no")])
    assert both.state is GateState.FAILED
    assert both.reasons == ["b: failed: no", "a: broken: harness error: KeyError"]  # failures first


def test_a_broken_check_outranks_what_was_not_verified() -> None:
    g = gate([result("a", "broken"), result("b", "skipped", message="why")])
    assert g.state is GateState.ERROR and g.not_verified == ["b: skipped: why"]


def test_blocked_checks_are_listed_once_per_root_cause() -> None:
    checks = [result("auth.token.issued", "failed", message="invalid_client")] + [
        result("exercise.read", "blocked", api=f"A{i}", blocked_by="auth.token.issued", message="no token")
        for i in range(290)]
    g = gate(checks)
    assert g.state is GateState.FAILED
    assert g.not_verified == ["290 check(s) blocked by auth.token.issued: no token"]


def test_each_root_cause_has_its_line_and_the_blocked_come_first() -> None:
    checks = [result("s", "skipped", message="needs test data"),
              *[result("r", "blocked", api=f"A{i}", blocked_by="auth.token.issued", message="no token") for i in range(3)],
              *[result("m", "blocked", api=f"B{i}", blocked_by="discovery.metadata.served[R4]", message="no R4")
                for i in range(2)],
              result("u", "blocked", message="unknown cause"),
              result("t", "blocked", api="C", blocked_by="auth.token.issued", message="expired")]
    assert gate(checks).not_verified == [
        "3 check(s) blocked by auth.token.issued: no token",
        "2 check(s) blocked by discovery.metadata.served[R4]: no R4",
        "1 check(s) blocked by a precondition: unknown cause",
        "1 check(s) blocked by auth.token.issued: expired",
        "s: skipped: needs test data",
    ]


def test_advisory_checks_that_do_not_run_decide_nothing_but_their_failures_count() -> None:
    for outcome in ("skipped", "blocked", "inconclusive"):
        g = gate([result("a", "passed"), result("p", outcome, required=False, blocked_by="x")])
        assert g.state is GateState.PASSED and not g.not_verified, outcome
    assert gate([result("a", "passed"), result("p", "failed", required=False)]).state is GateState.FAILED
    assert gate([result("a", "passed"), result("p", "broken", required=False)]).state is GateState.ERROR


def test_policy_waives_optional_apis_but_never_discovery_or_auth() -> None:
    policy = GatePolicy(required_groups=frozenset({"Scheduling"}))
    waived = gate([result("exercise.read", "failed", api="X", group="Directory")], policy=policy)
    assert waived.state is GateState.PASSED and waived.waived == ["optional: exercise.read[X]: failed"]
    kept = gate([result("discovery.x", "failed"), result("auth.token.issued", "failed")], policy=policy)
    assert kept.state is GateState.FAILED and len(kept.reasons) == 2
    required = gate([result("exercise.read", "failed", api="S", group="Scheduling")], policy=policy)
    assert required.state is GateState.FAILED and not required.waived


@pytest.mark.parametrize("policy", [GatePolicy(optional_apis=frozenset({"X"})),
                                    GatePolicy(optional_groups=frozenset({"Directory"}))],
                         ids=["optional_apis", "optional_groups"])
def test_an_optional_api_waives_every_outcome_of_its_checks(policy: GatePolicy) -> None:
    checks = [result("exercise.read", "failed", api="X", group="Directory", message="no"),
              result("exercise.search", "broken", api="X", group="Directory"),
              result("exercise.paging", "blocked", api="X", group="Directory", blocked_by="exercise.search[X]"),
              result("data.us-core", "skipped", api="X", group="Directory", message="why")]
    g = gate(checks + [result("exercise.read", "passed", api="Y", group="Other")], policy=policy)
    assert g.state is GateState.PASSED and not g.reasons and not g.not_verified
    assert g.waived == ["optional: exercise.read[X]: failed: no", "optional: exercise.search[X]: broken",
                        "optional: exercise.paging[X]: blocked", "optional: data.us-core[X]: skipped: why"]
    other = gate([result("exercise.read", "failed", api="Y", group="Other")], policy=policy)
    assert other.state is GateState.FAILED  # only what the policy names is optional


def test_the_gate_records_its_policy_and_whether_a_baseline_applied() -> None:
    policy = GatePolicy(source="policy from gate.toml")
    g = gate([result("a", "passed")], policy=policy, baseline={"checks": [], "apis": []})
    assert g.policy == "policy from gate.toml" and g.baseline is True
    assert gate([result("a", "passed")]).baseline is False


def test_baseline_waives_known_failures_only() -> None:
    baseline = {"checks": [{"id": "a", "outcome": "failed"}, {"id": "b", "outcome": "passed"},
                           {"id": "c", "outcome": "skipped"}], "apis": []}
    g = gate([result("a", "failed"), result("b", "passed"), result("c", "passed")], baseline=baseline)
    assert g.state is GateState.PASSED and g.waived == ["not a regression (baseline: failed): a: failed"]
    worse = gate([result("a", "failed"), result("b", "failed")], baseline=baseline)
    assert worse.state is GateState.FAILED and worse.reasons == ["regression: b: failed"]
    # what was not verified before and is not verified now is still not verified
    assert gate([result("c", "skipped")], baseline=baseline).state is GateState.INCOMPLETE


def test_baseline_regressions_from_a_warning_and_waivers_for_what_did_not_run_before() -> None:
    baseline = {"checks": [{"id": "w", "outcome": "warning"}, {"id": "p", "outcome": "passed"},
                           {"id": "k", "outcome": "broken"}], "apis": []}
    assert gate([result("w", "failed")], baseline=baseline).reasons == ["regression: w: failed"]
    new = gate([result("n", "failed", message="no")], baseline=baseline)  # a check the baseline did not run
    assert new.state is GateState.PASSED and new.waived == ["not a regression (baseline: not run): n: failed: no"]
    broke_again = gate([result("k", "broken")], baseline=baseline)
    assert broke_again.state is GateState.PASSED and broke_again.waived[0].startswith("not a regression (baseline: broken)")
    broke_now = gate([result("p", "broken")], baseline=baseline)
    assert broke_now.state is GateState.ERROR and broke_now.reasons == ["p: broken"]
    blocked_now = gate([result("p", "blocked", blocked_by="x", message="m")], baseline=baseline)
    assert blocked_now.state is GateState.INCOMPLETE and not blocked_now.waived


def test_baseline_api_that_lost_declared_or_granted_is_a_regression() -> None:
    baseline = {"checks": [], "apis": [{"name": "P", "declared": True, "granted": True}]}
    g = gate([result("a", "passed")], apis=[row("P", declared=False)], baseline=baseline)
    assert g.state is GateState.FAILED and g.reasons == ["regression: P: declared was true in the baseline, now false"]
    g = gate([result("a", "passed")], apis=[row("P", granted=False)], baseline=baseline)
    assert g.reasons == ["regression: P: granted was true in the baseline, now false"]
    optional = GatePolicy(optional_apis=frozenset({"P"}))
    assert gate([result("a", "passed")], apis=[row("P", declared=False)], baseline=baseline,
                policy=optional).state is GateState.PASSED


def test_baseline_api_rows_that_are_no_regression() -> None:
    baseline = {"checks": [], "apis": [{"name": "P", "declared": None, "granted": False},
                                       {"name": "Q", "declared": True, "granted": True}]}
    rows = [row("P", declared=False, granted=False), row("Q", declared=None, granted=True), row("New", declared=False)]
    g = gate([result("a", "passed")], apis=rows, baseline=baseline)
    assert g.state is GateState.PASSED and not g.reasons  # unknown before, unknown now, or not in the baseline
    by_group = gate([result("a", "passed")], apis=[row("Q", declared=False, group="Directory")], baseline=baseline,
                    policy=GatePolicy(optional_groups=frozenset({"Directory"})))
    assert by_group.state is GateState.PASSED


def test_a_requested_api_no_check_exercised_is_not_verified() -> None:
    idle = api_row("P", verified=False, exercised=None, not_verified=NOT_EXERCISED)
    g = gate([result("a", "passed")], apis=[idle])
    assert g.state is GateState.INCOMPLETE and g.not_verified == ["P: not exercised in this run"]
    assert gate([result("a", "passed")], apis=[idle], policy=GatePolicy(optional_apis=frozenset({"P"}))).passed


def test_an_api_not_verified_for_another_reason_is_reported_by_its_checks_not_twice() -> None:
    refused = api_row("P", verified=False, declared=False, not_verified="not declared")
    g = gate([result("coverage.declared", "failed", api="P", message="not in the CapabilityStatement")], apis=[refused])
    assert g.state is GateState.FAILED and g.not_verified == []
    assert g.reasons == ["coverage.declared[P]: failed: not in the CapabilityStatement"]


def test_a_policy_can_make_a_warning_fail() -> None:
    wide = result("scopes.granted-as-requested", "warning")
    wide.warnings = ["granted wider than requested: 149 scope(s)", "and one more"]
    assert gate([wide]).state is GateState.PASSED
    strict = GatePolicy(warnings_fail=frozenset({"scopes.granted-as-requested"}))
    g = gate([wide], policy=strict)
    assert g.state is GateState.FAILED
    assert g.reasons == ["scopes.granted-as-requested: warning made a failure by the policy: "
                         "granted wider than requested: 149 scope(s); and one more"]
    assert gate([result("other", "warning")], policy=strict).state is GateState.PASSED


CHECKS = st.lists(st.tuples(st.sampled_from(list(Outcome)), st.booleans(), st.sampled_from(["x", "y"]),
                            st.sampled_from(["m1", "m2"])), max_size=12)


@settings(max_examples=300, deadline=None)
@given(CHECKS)
def test_without_policy_or_baseline_the_state_follows_the_outcomes(drawn: list) -> None:
    checks = [result(f"c{i}", outcome.value, required=required, blocked_by=by, message=message)
              for i, (outcome, required, by, message) in enumerate(drawn)]
    g = gate(checks)
    outcomes = [c.outcome for c in checks]
    unproved = [c for c in checks if c.required and c.outcome in (Outcome.BLOCKED, Outcome.INCONCLUSIVE, Outcome.SKIPPED)]
    if Outcome.FAILED in outcomes:
        expected = GateState.FAILED
    elif Outcome.BROKEN in outcomes:
        expected = GateState.ERROR
    elif unproved or not checks:
        expected = GateState.INCOMPLETE
    else:
        expected = GateState.PASSED
    assert g.state is expected
    assert len(g.reasons) == outcomes.count(Outcome.FAILED) + outcomes.count(Outcome.BROKEN)
    causes = {(c.blocked_by, c.message) for c in unproved if c.outcome is Outcome.BLOCKED}
    others = [c for c in unproved if c.outcome is not Outcome.BLOCKED]
    assert len(g.not_verified) == len(causes) + len(others) + (0 if checks else 1)
    assert sum(int(line.split(" ", 1)[0]) for line in g.not_verified if " check(s) blocked by " in line) == \
        sum(1 for c in unproved if c.outcome is Outcome.BLOCKED)
