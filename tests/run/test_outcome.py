"""Each outcome knows its rank, what it means for the gate, and how Allure and junit show it."""

from __future__ import annotations

from harness.run.outcome import GateState, Outcome


def test_worst_outcome_wins() -> None:
    assert Outcome.worst([Outcome.PASSED, Outcome.WARNING]) is Outcome.WARNING
    assert Outcome.worst([Outcome.PASSED, Outcome.BLOCKED, Outcome.FAILED]) is Outcome.FAILED
    assert Outcome.worst([Outcome.SKIPPED, Outcome.PASSED]) is Outcome.SKIPPED
    assert Outcome.worst([]) is None


def test_statuses_in_allure_and_junit() -> None:
    assert Outcome.WARNING.allure_status == "passed" and Outcome.WARNING.junit is None
    assert Outcome.FAILED.allure_status == "failed" and Outcome.FAILED.junit == "failure"
    assert Outcome.BROKEN.allure_status == "broken" and Outcome.BROKEN.junit == "error"
    assert Outcome.BLOCKED.allure_status == "skipped" and Outcome.INCONCLUSIVE.allure_status == "unknown"
    assert {o.junit for o in (Outcome.BLOCKED, Outcome.INCONCLUSIVE, Outcome.SKIPPED)} == {"skipped"}


def test_gate_states_and_exit_codes() -> None:
    assert [s.exit_code for s in GateState] == [0, 5, 1, 3]
    assert GateState.INCOMPLETE.headline == "INCOMPLETE" and GateState.FAILED.headline == "NOT READY"
