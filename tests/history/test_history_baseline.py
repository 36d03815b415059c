"""``--baseline history:...``: a stored run read back in summary.json's shape, usable by the gate."""

from __future__ import annotations

import json

import pytest

from harness.run.gate import GateInput, decide as compute
from harness.history.baseline import resolve_baseline
from harness.history.errors import HistoryError
from harness.history.record import record_run
from harness.run.results import ApiRow, CheckResult
from tests.history.history_helpers import LOST_API, tenant_runs


@pytest.fixture
def history(history_path):
    for summary in tenant_runs():
        record_run(summary, history=history_path)
    return history_path


def test_latest_latest_passed_and_an_id_name_the_right_runs(history):
    latest = resolve_baseline("history:latest", tenant="acme-nonprod", history=history)
    passed = resolve_baseline("history:latest-passed", tenant="acme-nonprod", history=history)
    assert latest["gate"] == "incomplete" and latest["schema_version"] == 2
    assert passed["gate"] == "passed" and passed["software_version"] == "May 2026"
    by_id = resolve_baseline(f"history:{passed['history_run']}", history=history)
    assert by_id == passed
    assert {a["name"]: a["verified"] for a in latest["apis"]}["Slot.Read (STU3)"] is False
    blocked = [c for c in latest["checks"] if c["outcome"] == "blocked"]
    assert len(blocked) == 1 and blocked[0]["blocked_by"] == "auth.token.issued"
    written = {c["id"]: c["requirements"] for c in tenant_runs()[2]["checks"]}
    assert {c["id"]: c["requirements"] for c in latest["checks"]} == written
    assert sum(map(len, written.values())) > 50  # the catalogue's ids (``rfc7523@3-1``) are kept, every one
    assert all(c["requirements"] is None for c in passed["checks"])  # schema 1 says nothing about them


def test_a_stored_baseline_makes_the_gate_fail_only_on_regressions(history):
    baseline = resolve_baseline("history:latest-passed", tenant="acme-nonprod", history=history)
    lost = next(a for a in tenant_runs()[1]["apis"] if a["name"] == LOST_API)
    rows = [ApiRow(name=LOST_API, group=lost["group"], version="R4", declared=False, granted=True,
                   exercised="passed", detail={})]
    failing = CheckResult(id=f"coverage.declared[{LOST_API}]", check_id="coverage.declared", title="t", why="w",
                          source="s", source_url=None, severity="critical", area="Coverage", outcome="failed",
                          message="not declared", api=LOST_API, group=lost["group"])
    gate = compute(GateInput([failing], rows, baseline=baseline))
    assert not gate.passed
    assert any(r.startswith(f"regression: coverage.declared[{LOST_API}]") for r in gate.reasons)
    assert f"regression: {LOST_API}: declared was true in the baseline, now false" in gate.reasons
    failed_before = resolve_baseline("history:latest", tenant="acme-nonprod", history=history)
    assert compute(GateInput([failing], rows, baseline=failed_before)).passed  # failing then too: no regression


def test_a_file_is_read_as_before(tmp_path, history):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(tenant_runs()[0]))
    assert resolve_baseline(str(path), history=history)["gate"] == "passed"


def test_each_wrong_baseline_is_one_message(history):
    with pytest.raises(HistoryError, match="needs the tenant's name"):
        resolve_baseline("history:latest", history=history)
    with pytest.raises(HistoryError, match="no passed run of tenant 'other'"):
        resolve_baseline("history:latest-passed", tenant="other", history=history)
    with pytest.raises(HistoryError, match="no run 99 in the history"):
        resolve_baseline("history:99", history=history)
    with pytest.raises(HistoryError, match="give history:<run id>, history:latest or history:latest-passed"):
        resolve_baseline("history:yesterday", tenant="acme-nonprod", history=history)
    with pytest.raises(HistoryError, match="run 1 is of tenant 'acme-nonprod', not 'other'"):
        resolve_baseline("history:1", tenant="other", history=history)
