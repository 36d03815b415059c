"""End to end: a discovery fault reaches the gate and the exit code through a whole `epic-harness run`.

Each discovery check passing and failing is shown in process (tests/suites/test_discovery.py,
tests/suites/test_coverage.py); these runs prove the whole path: the CLI's options, the selection,
the gate's reasons and the exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import INCOMPLETE, run_harness


@pytest.mark.e2e
def test_a_discovery_fault_fails_its_check_and_the_gate(sandbox_run) -> None:
    run = sandbox_run("smart-config-drop:grant_types_supported", pytest_args=["-m", "discovery"])
    assert run.exit_code == 1, run.stdout[-2000:] + run.stderr[-2000:]
    check_id = "discovery.smart-configuration.client-credentials"
    assert run.check(check_id)["outcome"] == "failed"
    assert run.summary["gate"] == "failed"
    assert any(check_id in reason for reason in run.summary["gate_reasons"])
    assert run.check("discovery.smart-configuration.signing-algorithms")["outcome"] == "warning"
    ran = [c for c in run.summary["checks"] if c["id"] in run.outcomes()]
    assert all("plain http" in c["message"] for c in ran if c["outcome"] == "skipped")  # TLS: loopback http
    assert {c["outcome"] for c in ran if c["required"] and c["id"] != check_id} <= {"passed", "warning", "skipped"}


@pytest.mark.e2e
def test_marker_selection_and_unknown_fault(tmp_path: Path) -> None:
    run = run_harness(tmp_path / "report", pytest_args=["-k", "Practitioner and declared"])
    assert run.exit_code == INCOMPLETE
    ran = [c for c in run.summary["checks"] if c["id"] in run.outcomes()]
    assert {c["check_id"] for c in ran} == {"coverage.declared"}
    assert all("Practitioner" in c["api"] for c in ran)
    assert any("deselected" in line for line in run.summary["gate_not_verified"])
    bad = run_harness(tmp_path / "other", "--fault", "no-such-fault")
    assert bad.exit_code == 2 and "no-such-fault" in bad.stderr and "Traceback" not in bad.stderr
