"""Runs as the commands write them: a real run of the suite against the embedded sandbox and a real fleet
run, recorded and read back with every allow-listed field intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.history.load import fleet_runs_as_json
from harness.history.load import summary as stored_summary
from harness.history.record import record_fleet, record_run
from harness.history.store import History

ROOT = Path(__file__).parents[2]


def test_a_real_run_of_the_suite_reads_back_as_it_was_written(tmp_path, history_path):
    report = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--report-dir", str(report), "--", "-m",
                           "discovery or coverage"], capture_output=True, text=True, cwd=ROOT, timeout=240,
                          env={**os.environ, "CI": "true"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads((report / "summary.json").read_text("utf-8"))
    recorded = record_run(summary, history=history_path)
    with History(history_path) as h, h.read() as conn:
        back = stored_summary(conn, recorded.run_id)
    assert back["tenant"] == summary["tenant"] == "sandbox" and back["gate"] == summary["gate"]
    assert back["software_version"] == summary["software_version"]
    assert back["counts"] == {k: v for k, v in summary["counts"].items()}
    assert sorted((a["name"], a["declared"], a["granted"], a["exercised"]) for a in back["apis"]) == \
        sorted((a["name"], a["declared"], a["granted"], a["exercised"]) for a in summary["apis"])
    assert sorted((c["id"], c["outcome"]) for c in back["checks"]) == \
        sorted((c["id"], c["outcome"]) for c in summary["checks"])


def test_a_real_fleet_run_reads_back_as_it_was_written(history_path, fleet_json):
    recorded = record_fleet(fleet_json, history=history_path)
    with History(history_path) as h, h.read() as conn:
        back = fleet_runs_as_json(conn, [recorded.run_id])[recorded.run_id]
    assert len(back["tenants"]) == len(fleet_json["tenants"])
    assert [a["name"] for a in back["apis"]["requested"]] == sorted(a["name"] for a in fleet_json["apis"]["requested"])
    for was, now in zip(fleet_json["tenants"], back["tenants"]):
        assert (now["key"], now["status"], now["release"], now["fingerprint"]) == \
            (was["key"], was["status"], was["release"], was["fingerprint"])
        assert now["metadata"]["outcome"] == was["metadata"]["outcome"]
        assert now["metadata"]["elapsed_s"] == was["metadata"]["elapsed_s"]
        if was.get("coverage") and was["metadata"]["outcome"] == "ok":
            assert now["coverage"]["missing"] == sorted(was["coverage"]["missing"])
            assert now["coverage"]["unknown"] == sorted(was["coverage"]["unknown"])
            assert now["coverage"]["declared"] == was["coverage"]["declared"]
        if was["smart_configuration"]["outcome"] == "ok":
            assert now["readiness"] == was["readiness"]
