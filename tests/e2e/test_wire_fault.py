"""End to end: a fault on the wire (the connection reset mid-body on one resource type) fails only the checks of
the APIs it hits, and the run goes on: the checks judging those APIs' answers run after them and are blocked by
them, every other API passes, nothing breaks, no traceback reaches the user, and the gate fails.

Each transport fault (a hang, a reset, a drip, throttling, truncation, a flood, a 503 waited out, an
unreachable tenant) is shown caught check by check in tests/suites/test_exercise_hostile.py."""

from __future__ import annotations

import pytest

from tests.conftest import HarnessRun, run_harness, tenant_variant

pytestmark = pytest.mark.e2e

TIGHT = """
[client]
rate_limit = "500/s"
read_timeout = 1.5
request_deadline = 2.0
max_response_bytes = 1000000
max_retries = 2
retry_after_cap = 2
"""
COVERAGE = ("Coverage.Search (Patient Insurance Information) (R4)", "Coverage.Search (Outside Record) (R4)")


@pytest.fixture(scope="module")
def reset_run(tmp_path_factory: pytest.TempPathFactory) -> HarnessRun:
    from harness.sandbox import EmbeddedSandbox, default_settings

    folder = tmp_path_factory.mktemp("reset-run")
    tenant = tenant_variant(folder, drop_table="client", append=TIGHT)
    with EmbeddedSandbox(default_settings(["transport-reset:Coverage"])) as sandbox:
        return run_harness(folder / "report", "--tenant", str(tenant), "--base-url", sandbox.base_url,
                           pytest_args=["-m", "exercise", "-k", "(Coverage or Practitioner) and R4"])


def test_a_reset_fails_only_the_apis_it_hits_and_the_run_goes_on(reset_run: HarnessRun) -> None:
    run = reset_run
    assert run.exit_code == 1, run.stdout[-1500:]
    assert "Traceback" not in run.stdout + run.stderr
    for api in COVERAGE:
        check = run.check(f"exercise.search[{api}]")
        assert check["outcome"] == "failed" and "failed: RemoteProtocolError" in check["message"], check["message"]
        assert check["category"] == "tenant-fault"
    assert run.check("exercise.search[Practitioner.Search (Organizational Directory) (R4)]")["outcome"] == "passed"
    assert not [c for c in run.summary["checks"] if c["outcome"] == "broken"]
    assert run.summary["gate"] == "failed"
    assert any(f"exercise.search[{COVERAGE[0]}]" in reason for reason in run.summary["gate_reasons"])
    others = [c for c in run.outcomes() if c.startswith("exercise.") and "Coverage" not in c]
    assert len(others) >= 4 and all(run.check(c)["outcome"] == "passed" for c in others)


def test_what_judges_a_failed_answer_runs_after_it_and_is_blocked_by_it(reset_run: HarnessRun) -> None:
    derived = [c for c in reset_run.summary["checks"] if c["api"] in COVERAGE and c["id"] in reset_run.outcomes()
               and c["check_id"].split(".")[0] in ("search", "profile", "contract")]
    assert len(derived) >= 6, [c["id"] for c in derived]
    assert all(c["outcome"] == "blocked" and c["blocked_by"] == f"exercise.search[{c['api']}]" for c in derived), \
        [(c["id"], c["outcome"], c["blocked_by"]) for c in derived]
    assert all("RemoteProtocolError" in c["message"] for c in derived)
