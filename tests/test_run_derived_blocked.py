"""One failing request is one failure: the checks that judge what an API's exercise check fetched
(search semantics, US Core profile, data contract) run after it and are blocked by it when it fails,
naming it, instead of failing again with the same answer. The gate still fails, on the exercise check."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

SEARCH = "Practitioner.Search (Organizational Directory) (R4)"
READ = "Practitioner.Read (Organizational Directory) (R4)"


def test_a_500_fails_the_exercise_checks_and_blocks_what_judges_their_answers(sandbox_run) -> None:
    run = sandbox_run("fhir-html-500:Practitioner", pytest_args=["-m", "exercise", "-k", "Practitioner"])
    assert run.exit_code == 1, run.stdout[-1500:]
    assert run.summary["gate"] == "failed"
    assert run.check(f"exercise.search[{SEARCH}]")["outcome"] == "failed"
    assert run.check(f"exercise.read[{READ}]")["outcome"] == "failed"
    derived = [c for c in run.summary["checks"] if c["api"] in (SEARCH, READ) and c["id"].split("[")[0].split(".")[0]
               in ("search", "profile", "contract")]
    assert derived and all(c["outcome"] in ("blocked", "skipped") for c in derived), \
        [(c["id"], c["outcome"]) for c in derived]
    blocked = [c for c in derived if c["outcome"] == "blocked"]
    assert {c["blocked_by"] for c in blocked} <= {f"exercise.search[{SEARCH}]", f"exercise.read[{READ}]"}
    assert any(c["id"].startswith("search.patient-restriction") or c["id"].startswith("search.token")
               for c in blocked)
    assert all("HTTP 500" in c["message"] for c in blocked)
    # an API the fault does not touch is judged as before
    assert run.check("exercise.search[PractitionerRole.Search (Organizational Directory) (R4)]")["outcome"] == "passed"
