"""Hostile tenants: each transport fault is handled, the right check fails or is retried, every other check
still runs, nothing hangs and no traceback reaches the user."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import INCOMPLETE

from tests.conftest import tenant_variant

TIGHT = """
[client]
rate_limit = "500/s"
read_timeout = 1.5
request_deadline = 2.0
max_response_bytes = 1000000
max_retries = 2
retry_after_cap = 2
"""


@pytest.fixture
def tight_tenant(tmp_path: Path) -> Path:
    return tenant_variant(tmp_path, drop_table="client", append=TIGHT)


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("transport-hang:Coverage", "timed out"),
        ("transport-reset:Coverage", "failed: RemoteProtocolError"),
        ("transport-429-storm:Coverage", "HTTP 429"),
        ("transport-truncated-json:Coverage", "not valid JSON"),
        ("transport-huge-bundle:Coverage", "exceeds 1,000,000 bytes"),
        ("transport-slow-drip:Coverage", "slow drip"),
    ],
)
def test_hostile_transport_fails_only_its_api(sandbox_run, tight_tenant: Path, fault: str, words: str) -> None:
    run = sandbox_run(fault, tenant=tight_tenant, pytest_args=[
        "-m", "exercise", "-k", "((Coverage or Practitioner) and search and R4) and not semantics"])
    assert run.exit_code == 1, run.stdout[-1500:]
    assert "Traceback" not in run.stdout + run.stderr
    coverage = run.check("exercise.search[Coverage.Search (Patient Insurance Information) (R4)]")
    assert coverage["outcome"] == "failed" and words in coverage["message"], coverage["message"]
    assert coverage["category"] == "tenant-fault"
    assert run.check("exercise.search[Practitioner.Search (Organizational Directory) (R4)]")["outcome"] == "passed"
    assert not [c for c in run.summary["checks"] if c["outcome"] == "broken"]
    if "429" in fault:
        assert run.summary["stats"]["retries"] >= 2


def test_503_with_retry_after_is_retried_and_passes(sandbox_run, tight_tenant: Path) -> None:
    run = sandbox_run("transport-503-once:Coverage", tenant=tight_tenant,
                      pytest_args=["-m", "exercise", "-k", "Coverage and search and R4 and not semantics"])
    assert run.exit_code == INCOMPLETE and not run.summary["gate_reasons"]
    coverage = [v for k, v in run.outcomes().items() if k.startswith("exercise.")]
    assert coverage and set(coverage) == {"passed"}
    assert run.summary["stats"]["retries"] >= 1 and run.summary["stats"]["retry_wait_s"] >= 1


def test_unreachable_tenant_fails_fast_and_clearly(tmp_path: Path) -> None:
    from tests.conftest import SANDBOX_TENANT, run_harness

    run = run_harness(tmp_path / "report", "--tenant", str(SANDBOX_TENANT), "--base-url", "http://127.0.0.1:1",
                      pytest_args=["-m", "discovery or auth or exercise", "-k", "not refuses"])
    assert run.exit_code == 1
    assert "Traceback" not in run.stdout + run.stderr
    reachable = run.check("preflight.reachable")  # deselected, but the preflight's verdict still stands
    assert reachable["outcome"] == "failed" and "ConnectError" in reachable["message"]
    served = run.check("discovery.smart-configuration.served")
    assert served["outcome"] == "blocked" and served["blocked_by"] == "preflight.reachable"
    failed = {k for k, v in run.outcomes().items() if v == "failed"}
    assert failed == {"preflight.reachable"}, failed
    ran = run.outcomes()
    assert all(outcome == "blocked" for check_id, outcome in ran.items()
               if check_id.startswith(("exercise.", "discovery.", "auth.token")))
    assert [r["check"] for r in run.summary["root_causes"]] == ["preflight.reachable"]
    assert run.summary["stats"]["requests_sent"] <= 6  # the preflight's few tries, then nothing
    assert len(run.stdout.splitlines()) < 250
