"""The repository's cassettes, recorded from the sandbox, replay offline on a fresh clone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_harness

SHIPPED = ROOT / "cassettes" / "sandbox"


@pytest.mark.parametrize("tenant", [(), ("--tenant", str(ROOT / "tenants" / "sandbox.toml"))],
                         ids=["embedded tenant file", "tenants/sandbox.toml"])
def test_shipped_cassettes_replay_offline_with_the_recorded_results(tmp_path: Path, tenant: tuple[str, ...]) -> None:
    recorded = json.loads((SHIPPED / "summary.json").read_text())
    run = run_harness(tmp_path / "report", *tenant, "--mode", "replay", "--cassette-dir", str(SHIPPED))
    replayed = {c["id"]: c["outcome"] for c in run.summary["checks"]}
    expected = {c["id"]: c["outcome"] for c in recorded["checks"]}
    changed = {k: (expected.get(k), replayed.get(k)) for k in expected.keys() | replayed.keys()
               if expected.get(k) != replayed.get(k)}
    assert not changed, (f"the checks or the sandbox changed since cassettes/sandbox was recorded; record it again "
                         f"from the repository root with `epic-harness run --mode record`: {list(changed.items())[:5]}")
    assert run.exit_code == 0 and run.summary["gate"] == "passed"
    assert run.summary["stats"]["requests_sent"] > 100
