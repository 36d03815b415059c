"""The scopes.* checks (suites/test_scopes.py) judged in process after a read answered 200 to the run's token:
all pass or warn on the correct sandbox (Epic grants wider than asked: a warning); a server granting exactly what
is asked passes them without a warning; an unknown scope granted, or a write accepted outside the token's
scopes, fails its own check as a SECURITY finding and no other."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.checks import Judged, judge, judge_each, tenant_state

SCOPE_CHECKS = ("scopes.granted-as-requested", "scopes.narrowing", "scopes.unknown-refused", "scopes.v1-v2",
                "scopes.write-outside-registration")


def _scopes(*faults: str) -> dict[str, Judged]:
    with tenant_state(*faults) as state:
        read = judge(state, "exercise.read", api="Patient.Read (Demographics) (R4)")  # narrowing tries this URL
        assert read.outcome == "passed", read
        return {rid: j for check_id in SCOPE_CHECKS for rid, j in judge_each(state, check_id).items()}


def test_the_scope_checks_pass_on_the_correct_sandbox() -> None:
    judged = _scopes()
    assert set(judged) == set(SCOPE_CHECKS) and {j.outcome for j in judged.values()} <= {"passed", "warning"}, judged
    wide = judged["scopes.granted-as-requested"]
    assert wide.outcome == "warning" and "granted wider than requested" in wide.message  # Epic's way
    assert judged["scopes.narrowing"].outcome == "warning"  # the token is not narrowed, as Epic does


def test_a_server_granting_what_is_asked_passes_without_a_warning() -> None:
    judged = _scopes("token-scope-grant:requested")
    assert {j.outcome for j in judged.values()} == {"passed"}, judged
    assert "refused Patient with HTTP 403" in judged["scopes.narrowing"].result.notes[0]


@pytest.mark.parametrize(("fault", "check_id", "words"), [
    ("token-grant-unknown-scope", "scopes.unknown-refused", "granted the unknown scope"),
    ("fhir-unscoped-writes", "scopes.write-outside-registration", "was accepted"),
])
def test_an_over_grant_fails_its_own_check_as_a_security_finding(fault: str, check_id: str, words: str) -> None:
    judged: dict[str, Any] = _scopes(fault)
    failed = {rid: j for rid, j in judged.items() if j.outcome == "failed"}
    assert list(failed) == [check_id], judged
    assert failed[check_id].message.startswith("SECURITY") and words in failed[check_id].message
