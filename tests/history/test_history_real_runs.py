"""Runs as the commands write them: a real ``epic-harness run`` against the sandbox and real ``epic-harness
fleet`` runs over the sandbox fleet, each recorded by the command itself into the history ``--history`` names,
listed by ``epic-harness history --json`` and read back with every allow-listed field intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.history.load import fleet_runs_as_json
from harness.history.load import summary as stored_summary
from harness.history.record import record_fleet
from harness.history.store import History
from harness.sandbox.fleet import EmbeddedFleet, build_fleet
from tests.conftest import INCOMPLETE

ROOT = Path(__file__).parents[2]
FAST = ("--timeout", "1", "--retries", "1", "--per-host-rps", "0", "--allow-loopback")


def _harness(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=240, env={**os.environ, "CI": "true"})


def assert_summary_kept(back: dict, summary: dict) -> None:
    """A stored tenant run equals the summary.json it came from, field by allow-listed field."""
    assert summary["schema_version"] == back["schema_version"] == 2
    for key in ("tenant", "environment", "base_url", "harness_version", "software_version", "requested_set", "gate"):
        assert back[key] == summary[key], key
    assert back["counts"] == summary["counts"]
    assert sorted((a["name"], a["group"], a["version"], a["declared"], a["granted"], a["exercised"], a["verified"],
                   a["shape"]) for a in back["apis"]) == \
        sorted((a["name"], a["group"], a["version"], a["declared"], a["granted"], a["exercised"], a["verified"],
                a["shape"]) for a in summary["apis"])
    assert sorted((c["id"], c["outcome"], c["category"], c["api"], c["blocked_by"], c["requirements"])
                  for c in back["checks"]) == \
        sorted((c["id"], c["outcome"], c["category"], c["api"], c["blocked_by"], c["requirements"])
               for c in summary["checks"])


def assert_fleet_kept(back: dict, fleet: dict) -> None:
    """A stored fleet run equals the fleet.json it came from, tenant by tenant, on the fields the history keeps."""
    assert len(back["tenants"]) == len(fleet["tenants"])
    assert [a["name"] for a in back["apis"]["requested"]] == sorted(a["name"] for a in fleet["apis"]["requested"])
    assert sorted(back["scope"]["not_run"]) == sorted((fleet.get("scope") or {}).get("not_run") or [])
    for was, now in zip(fleet["tenants"], back["tenants"]):
        assert (now["key"], now["name"], now["status"], now["failure"], now["release"], now["fingerprint"]) == \
            (was["key"], was["name"], was["status"], was["failure"], was["release"], was["fingerprint"])
        assert now["tls"] == was["tls"]
        for document in ("metadata", "smart_configuration"):
            assert (now[document]["outcome"], now[document]["http_status"], now[document]["elapsed_s"]) == \
                (was[document]["outcome"], was[document]["http_status"], was[document]["elapsed_s"])
        if was.get("coverage") and was["metadata"]["outcome"] == "ok":
            assert now["coverage"]["missing"] == sorted(was["coverage"]["missing"])
            assert now["coverage"]["unknown"] == sorted(was["coverage"]["unknown"])
            assert now["coverage"]["declared"] == was["coverage"]["declared"]
        if was["smart_configuration"]["outcome"] == "ok":
            assert now["readiness"] == was["readiness"]


def test_a_run_and_fleet_runs_each_add_a_run_to_the_history_named(tmp_path, sandbox_run):
    named = tmp_path / "named" / "history.sqlite"
    run = sandbox_run(pytest_args=["-m", "discovery or coverage"], extra=("--history", str(named)))
    summary = run.summary
    # only some groups selected: the others are not verified, so the gate is incomplete, and says so
    assert run.exit_code == summary["exit_code"] == INCOMPLETE and summary["gate"] == "incomplete", run.stderr
    assert not (tmp_path / "report-history.sqlite").exists()  # the history the environment names is untouched

    with EmbeddedFleet(build_fleet(seed=3, size=60)) as served:
        endpoints = tmp_path / "endpoints.json"
        endpoints.write_text(json.dumps(served.directory()), "utf-8")
        full = _harness("fleet", "--endpoints", str(endpoints), *FAST, "--report-dir", str(tmp_path / "fleet"),
                        "--history", str(named), cwd=tmp_path)
        limited = _harness("fleet", "--endpoints", str(endpoints), *FAST, "--limit", "5", "--report-dir",
                           str(tmp_path / "fleet-limited"), "--history", str(named), cwd=tmp_path)
    assert full.returncode == 0 and limited.returncode == 0, full.stderr + limited.stderr
    assert f"history: fleet run 2 kept in {named}" in full.stdout
    assert f"history: fleet run 3 kept in {named}" in limited.stdout
    fleets = [json.loads((tmp_path / folder / "fleet.json").read_text("utf-8")) for folder in ("fleet", "fleet-limited")]
    assert len(fleets[1]["scope"]["not_run"]) == len(fleets[0]["tenants"]) - 5
    page = (tmp_path / "fleet-limited" / "fleet.html").read_text("utf-8")
    assert page.count('id="fleet-history"') == 1 and "Tenants per Epic release over time" in page

    listed = _harness("history", "--history", str(named), "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    answer = json.loads(listed.stdout)
    assert answer["totals"] == {"tenant": 1, "fleet": 2}
    rows = {r["id"]: r for r in answer["runs"]}
    assert (rows[1]["kind"], rows[1]["tenant"], rows[1]["gate"], rows[1]["counts"]) == \
        ("tenant", "sandbox", "incomplete", summary["counts"])
    for run_id, fleet in zip((2, 3), fleets):
        assert (rows[run_id]["kind"], rows[run_id]["tenants"], rows[run_id]["answered"], rows[run_id]["ready"]) == \
            ("fleet", fleet["stats"]["tenants"], fleet["stats"]["answered"], fleet["stats"]["ready"])
    since = _harness("history", "--history", str(named), "--since", fleets[0]["generated"][:10], "--json",
                     cwd=tmp_path)
    kinds = {c["kind"] for c in json.loads(since.stdout)["changes"]}
    assert not kinds & {"tenant-removed", "tenant-added"}, kinds  # the limited run left those out, nothing more

    with History(named) as h, h.read() as conn:
        assert_summary_kept(stored_summary(conn, 1), summary)
        stored = fleet_runs_as_json(conn, [2, 3])
    for run_id, fleet in zip((2, 3), fleets):
        assert_fleet_kept(stored[run_id], fleet)
    again = _harness("history", "--history", str(named), "--add", str(tmp_path / "fleet"), "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["added"] == [{"run_id": 2, "kind": "fleet", "created": False,
                                                  "history": str(named)}]  # the command's own record, kept once


def test_a_real_fleet_run_reads_back_as_it_was_written(history_path, fleet_json):
    recorded = record_fleet(fleet_json, history=history_path)
    with History(history_path) as h, h.read() as conn:
        back = fleet_runs_as_json(conn, [recorded.run_id])[recorded.run_id]
    assert_fleet_kept(back, fleet_json)
    assert fleet_json["stats"]["answered"] > 40  # the sandbox fleet answered (loopback allowed)
