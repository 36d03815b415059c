"""End to end: `epic-harness run` against the sandbox, and discovery faults caught through its outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import INCOMPLETE, run_harness


@pytest.mark.parametrize(
    ("fault", "check_id"),
    [
        ("smart-config-drop:token_endpoint", "discovery.smart-configuration.token-endpoint"),
        ("smart-config-set:grant_types_supported=[]", "discovery.smart-configuration.client-credentials"),
        ("smart-config-drop:grant_types_supported", "discovery.smart-configuration.client-credentials"),
        ("smart-config-set:token_endpoint_auth_methods_supported=[\"client_secret_basic\"]",
         "discovery.smart-configuration.private-key-jwt"),
        ("smart-config-content-type:text/html", "discovery.smart-configuration.served"),
        ("smart-config-404", "discovery.smart-configuration.served"),
        ("smart-config-drop:capabilities", "discovery.smart-configuration.capabilities"),
        ("smart-config-set:code_challenge_methods_supported=[\"plain\", \"S256\"]", "discovery.smart-configuration.pkce"),
        ("smart-config-set:token_endpoint_auth_signing_alg_values_supported=[\"HS256\"]",
         "discovery.smart-configuration.signing-algorithms"),
        ("metadata-500:R4", "discovery.metadata.served[R4]"),
        ("metadata-fhir-version:R4=3.0.2", "discovery.metadata.fhir-version[R4]"),
        ("metadata-fhir-version:DSTU2=4.0.1", "discovery.metadata.fhir-version[DSTU2]"),
        ("metadata-drop-format:STU3", "discovery.metadata.json-format[STU3]"),
        ("metadata-token-uri:R4=https://elsewhere.example/oauth2/token", "discovery.metadata.oauth-uris[R4]"),
        ("metadata-drop-resource:R4=Practitioner", "coverage.declared[Practitioner.Read (Organizational Directory) (R4)]"),
        ("grant-fewer-scopes:Practitioner", "coverage.granted[Practitioner.Search (Organizational Directory) (R4)]"),
    ],
)
def test_discovery_fault_fails_its_check_and_the_gate(sandbox_run, fault: str, check_id: str) -> None:
    # the discovery group alone for a discovery check (the gate fails on it all the same)
    run = sandbox_run(fault, pytest_args=["-m", "discovery" if check_id.startswith("discovery.") else "coverage"])
    assert run.exit_code == 1, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.check(check_id)["outcome"] == "failed"
    assert run.summary["gate"] == "failed"
    assert any(check_id in reason for reason in run.summary["gate_reasons"])


def test_missing_signing_algs_only_warns(sandbox_run) -> None:
    run = sandbox_run(pytest_args=["-m", "discovery"])
    assert run.exit_code == INCOMPLETE and run.summary["gate"] == "incomplete"  # only discovery ran
    assert run.check("discovery.smart-configuration.signing-algorithms")["outcome"] == "warning"
    ran = [c for c in run.summary["checks"] if c["id"] in run.outcomes()]
    assert {c["outcome"] for c in ran if c["required"]} <= {"passed", "warning"}
    assert all("plain http" in c["message"] for c in ran if c["outcome"] == "skipped")  # TLS: loopback http
    assert any("deselected" in line for line in run.summary["gate_not_verified"])


def test_marker_selection_and_unknown_fault(tmp_path: Path) -> None:
    run = run_harness(tmp_path / "report", pytest_args=["-k", "Practitioner and declared"])
    assert run.exit_code == INCOMPLETE
    ran = [c for c in run.summary["checks"] if c["id"] in run.outcomes()]
    assert {c["check_id"] for c in ran} == {"coverage.declared"}
    assert all("Practitioner" in c["api"] for c in ran)
    bad = run_harness(tmp_path / "other", "--fault", "no-such-fault")
    assert bad.exit_code == 2 and "no-such-fault" in bad.stderr and "Traceback" not in bad.stderr
