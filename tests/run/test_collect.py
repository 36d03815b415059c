"""From a finished check to its result (``collect.classify``: outcome, message, who must act, what blocked it) and
from the results to the coverage matrix (``collect.api_rows``: declared, granted, exercised, verified and why not)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from harness.checks import Blocked, CheckFailed, Inconclusive
from harness.errors import AuthError, OriginError, TenantError
from harness.run.collect import api_rows, classify
from harness.run.gate import NOT_EXERCISED
from harness.run.outcome import Outcome
from harness.run.preconditions import Skip
from harness.run.state import RunState
from tests.support.checks import tenant_state
from tests.support.results import check_result

READ = "Practitioner.Read (Organizational Directory) (R4)"
SEARCH = "Practitioner.Search (Organizational Directory) (R4)"
EXERCISING = {"exercise.read", "exercise.search"}


class CannotOverwriteExistingCassetteException(Exception):
    """What vcrpy raises when a replay has no recorded answer (matched by name, as the harness does)."""


class CheckTimeout(Exception):
    """The plugin's own, matched by name."""


def _skip() -> BaseException:
    try:
        pytest.skip("not here")
    except BaseException as exc:  # pytest.skip raises an OutcomeException, not an Exception
        return exc
    raise AssertionError("pytest.skip returned")


@pytest.mark.parametrize(("exc", "expected"), [
    (Blocked("auth.token.issued", "no access token: invalid_client"),
     (Outcome.BLOCKED, "no access token: invalid_client", None, "auth.token.issued")),
    (Inconclusive("throttled"), (Outcome.INCONCLUSIVE, "throttled", None, None)),
    (Skip("needs test_data.patient", category="test-data"), (Outcome.SKIPPED, "needs test_data.patient", "test-data", None)),
    (_skip(), (Outcome.SKIPPED, "not here", None, None)),
    (CheckFailed("no", category="tenant-fault"), (Outcome.FAILED, "no", "tenant-fault", None)),
    (CheckFailed("no"), (Outcome.FAILED, "no", "tenant-configuration", None)),
    (TenantError("HTTP 500"), (Outcome.FAILED, "HTTP 500", "tenant-fault", None)),
    (AuthError("invalid_client", category="vendor-credentials"), (Outcome.FAILED, "invalid_client", "vendor-credentials", None)),
    (OriginError("refusing plain http"), (Outcome.FAILED, "refusing plain http", "tenant-configuration", None)),
    (CheckTimeout("took longer than 60 s"), (Outcome.FAILED, "took longer than 60 s", "tenant-fault", None)),
    (AssertionError("the tenant answered 1\nassert 1 == 2"), (Outcome.FAILED, "the tenant answered 1", "tenant-configuration", None)),
    (AssertionError(), (Outcome.FAILED, "assertion failed", "tenant-configuration", None)),
    (KeyError("entry"), (Outcome.BROKEN, "harness error: KeyError: 'entry'", "harness-error", None)),
    (None, (Outcome.FAILED, "", None, None)),
], ids=lambda v: type(v).__name__ if isinstance(v, BaseException) or v is None else None)
def test_each_way_a_check_ends(exc: BaseException | None, expected: tuple[Any, ...]) -> None:
    assert classify(exc) == expected


def test_a_replay_without_a_recorded_answer_is_the_harnesss_to_fix() -> None:
    outcome, message, category, _ = classify(CannotOverwriteExistingCassetteException("no match for GET /x\nmore"))
    assert (outcome, category) == (Outcome.BROKEN, "harness-error")
    assert "hold no recorded answer for this request (no match for GET /x)" in message and "--mode record" in message


@pytest.fixture(scope="module")
def state() -> Iterator[RunState]:
    with tenant_state() as run:
        run.run_preflight()
        yield run


def _rows(state: RunState, *checks: Any) -> dict[str, Any]:
    return {row.name: row for row in api_rows(state, list(checks), EXERCISING)}


def test_every_requested_api_has_a_row_and_one_not_exercised_says_so(state: RunState) -> None:
    rows = _rows(state)
    assert list(rows) == [a.name for a in state.tenant.requested.apis]
    row = rows[READ]
    assert (row.declared, row.granted, row.exercised, row.verified) == (True, True, None, False)
    assert row.not_verified == NOT_EXERCISED and row.group == "Providers & organizational directory"


def test_an_api_is_verified_when_its_exercise_and_every_required_check_passed(state: RunState) -> None:
    passed = check_result("exercise.read", api=READ)
    assert _rows(state, passed)[READ].verified and _rows(state, passed)[READ].not_verified is None
    warned = check_result("exercise.read", "warning", api=READ)
    advisory = check_result("probing.read", "skipped", api=READ, required=False)
    assert _rows(state, warned, advisory)[READ].verified
    unproved = check_result("data.us-core", "inconclusive", api=READ, message="throttled")
    row = _rows(state, passed, unproved)[READ]
    assert not row.verified and row.not_verified == "data.us-core inconclusive: throttled"
    failed = check_result("exercise.read", "failed", api=READ, message="HTTP 500")
    row = _rows(state, failed)[READ]
    assert row.exercised is Outcome.FAILED and row.not_verified == "exercise.read failed: HTTP 500"
    assert row.detail["exercised"] == "HTTP 500"


def test_the_worst_exercise_outcome_is_the_apis(state: RunState) -> None:
    checks = [check_result("exercise.search", api=SEARCH), check_result("exercise.search", "blocked", api=SEARCH,
                                                                        param="page 2", blocked_by="x")]
    assert _rows(state, *checks)[SEARCH].exercised is Outcome.BLOCKED
    # a check that judges the API but does not exercise it leaves the column to the exercise checks
    assert _rows(state, check_result("data.us-core", "failed", api=SEARCH))[SEARCH].exercised is None


def test_a_withheld_context_is_not_granted_whatever_the_scope_says(state: RunState) -> None:
    withheld = check_result("exercise.read", "failed", api=READ,
                            message="Epic 59204: the tenant withholds this API's context")
    row = _rows(state, withheld)[READ]
    assert row.granted is False and "withholds this API's context (Epic 59204)" in row.detail["granted"]
    other = _rows(state, check_result("exercise.read", "failed", api=READ, message="HTTP 403"))[READ]
    assert other.granted is True


def test_without_a_token_granted_is_unknown_and_says_why() -> None:
    with tenant_state() as run:
        run.run_preflight(wants_token=False)
        row = _rows(run, check_result("exercise.read", api=READ))[READ]
    assert row.granted is None and row.detail["granted"].startswith("no token was requested in this run")
    assert row.declared is True and row.verified  # exercised and declared; granted unknown is not a refusal
