"""One whole ``epic-harness run`` against a served tenant with a fault, a policy file and a selection: the CLI, the
plugin, every report and the gate agree, and the exit code is the gate's. What each piece decides alone is tested
on its own: the gate in tests/run/test_gate.py, the policy in tests/test_policy.py, the plugin in
tests/test_plugin.py, each report writer in tests/report/."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import SANDBOX_TENANT, HarnessRun, run_harness

FAULT = "metadata-drop-resource:R4=Practitioner"  # fails the directory group's Practitioner R4 APIs
SELECT = ["-m", "discovery or coverage"]
QUIRK = "token_endpoint_auth_signing_alg_values_supported"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> HarnessRun:
    """One run with FAULT over SELECT and a policy accepting one quirk, shared by the tests that read what it wrote."""
    from harness.sandbox import EmbeddedSandbox, default_settings

    folder = tmp_path_factory.mktemp("failed-run")
    policy = folder / "policy.toml"
    policy.write_text(f'[gate]\naccepted_quirks = ["{QUIRK}"]\n')
    with EmbeddedSandbox(default_settings([FAULT])) as sandbox:
        return run_harness(folder / "report", "--tenant", str(SANDBOX_TENANT), "--base-url", sandbox.base_url,
                           "--policy", str(policy), pytest_args=SELECT)


def _count_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n)


def test_the_gate_fails_on_a_required_api_and_the_exit_code_says_so(failed_run: HarnessRun) -> None:
    run = failed_run
    assert run.exit_code == 1 and run.summary["gate"] == "failed" and run.summary["exit_code"] == 1
    reasons = run.summary["gate_reasons"]
    assert reasons and all(r.startswith("coverage.declared[Practitioner.") and "(R4)]: failed: " in r for r in reasons)
    assert f"gate: FAILED (NOT READY)  {_count_line(run.summary['counts'])}" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert (run.report_dir.parent / "report-history.sqlite").is_file()  # kept in the history, as every run is


def test_the_policy_file_reaches_the_gate(failed_run: HarnessRun) -> None:
    check = failed_run.check("discovery.smart-configuration.signing-algorithms")
    assert check["outcome"] == "passed" and check["notes"][0].startswith(f"accepted quirk: {QUIRK}")
    assert failed_run.summary["gate_policy"].startswith("policy from ") and \
        failed_run.summary["gate_policy"].endswith("policy.toml")


def test_every_report_is_written_and_counts_as_the_harness_counts(failed_run: HarnessRun) -> None:
    run, counts = failed_run, failed_run.summary["counts"]
    assert counts["failed"] > 0 and counts["skipped"] > 0  # the deselected checks
    assert f"- Checks: {_count_line(counts)}\n" in (run.report_dir / "summary.md").read_text()
    html = (run.report_dir / "summary.html").read_text()
    assert "NOT READY" in html and "What has to be done" in html and "Coverage matrix" in html
    assert "the customer&#x27;s Epic team: the tenant&#x27;s configuration" in html
    assert "<script" not in html.lower() and not re.search(r'<(link|img)[^>]+https?://', html)
    suite = ET.parse(run.report_dir / "junit.xml").getroot()
    assert suite.get("tests") == str(sum(counts.values())) and suite.get("failures") == str(counts["failed"])
    allure = run.report_dir / "allure-results"
    results = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    assert len(results) == len(run.outcomes())  # one per check that ran; the deselected are in the summary only
    failed = [r for r in results if r["status"] == "failed"]
    assert len(failed) == counts["failed"] and sum(r["status"] == "broken" for r in results) == counts["broken"]
    assert all(r["statusDetails"]["message"].startswith("customer's Epic team: ") for r in failed)
    assert "Epic.version=May 2026" in (allure / "environment.properties").read_text()
    # the exchanges each check judged, kept by the plugin during the run, are attached to its result
    assert any(a["name"].startswith("HTTP exchanges") for r in results for a in r.get("attachments", []))
