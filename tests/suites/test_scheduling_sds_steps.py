"""scheduling.find (suites/test_scheduling.py) judged in process: the Scheduling Decision Support steps it
reports, on the correct sandbox and on one whose $find answers other providers' slots."""

from __future__ import annotations

from tests.support.checks import judge, results_of, tenant_state

FIND = "Appointment.$find (STU3)"


def _steps(*faults: str) -> tuple[str, dict[str, tuple[str, str]], int]:
    with tenant_state(*faults) as state:
        find = judge(state, "scheduling.find", api=FIND)
        gate = results_of(state).gate.exit_code
    return find.outcome, {s["step"][0]: (s["verdict"], s["evidence"]) for s in find.result.data["sds"]}, gate


def test_a_correct_find_has_every_step_done() -> None:
    outcome, steps, gate = _steps()
    assert outcome == "passed" and {v for v, _ in steps.values()} == {"done"}, steps
    assert gate != 1


def test_a_provider_search_answering_other_providers_leaves_step_1_undone() -> None:
    outcome, steps, gate = _steps("sds-provider-ignored")
    assert steps["1"][0] == "not done" and "other providers' slots" in steps["1"][1]
    assert steps["2"][0] == "done"
    assert outcome == "failed" and gate == 1
