"""Runs as the commands write them: a run of the plugin and real ``epic-harness fleet`` runs over the sandbox
fleet, each recorded by the command itself into the history ``--history`` names, listed by ``epic-harness
history --json`` and read back with every allow-listed field intact; and a whole run's summary.json read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.history.load import fleet_runs_as_json
from harness.history.load import summary as stored_summary
from harness.history.record import record_fleet, record_run
from harness.history.store import History
from harness.sandbox import EmbeddedSandbox
from harness.sandbox.fleet import EmbeddedFleet, build_fleet
from tests.conftest import INCOMPLETE, SANDBOX_TENANT

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parents[2]
FAST = ("--timeout", "0.5", "--retries", "0", "--per-host-rps", "0", "--allow-loopback")  # the slow tenants time out soon


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


CHECK_MODULE = '''
from harness.checks import check

@check("demo.ok", title="a check that passes", why="w", source="s", group="discovery", needs=(),
       requirements=("fhir-r4@http.capability-statement",))
def test_ok():
    pass
'''


def _harness(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """``epic-harness ARGV`` in this process: its exit code and what it printed."""
    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_a_run_and_fleet_runs_each_add_a_run_to_the_history_named(tmp_path, ci, pytester, capsys):
    named = tmp_path / "named" / "history.sqlite"
    pytester.makepyfile(test_demo=CHECK_MODULE)  # the plugin, run on one check (`epic-harness run --history`: tests/test_cassettes.py)
    report = tmp_path / "report"
    with EmbeddedSandbox() as sandbox:
        run = pytester.runpytest_inprocess("--tenant", str(SANDBOX_TENANT), "--base-url", sandbox.base_url,
                                           "--report-dir", str(report), "--history", str(named),
                                           "-p", "no:cacheprovider", "-p", "no:randomly")
    summary = json.loads((report / "summary.json").read_text("utf-8"))
    # one check of no requested API: nothing requested is verified, so the gate is incomplete, and says so
    assert run.ret == summary["exit_code"] == INCOMPLETE and summary["gate"] == "incomplete"
    assert not ci.exists()  # the history the environment names is untouched

    with EmbeddedFleet(build_fleet(seed=3, size=60)) as served:
        endpoints = tmp_path / "endpoints.json"
        endpoints.write_text(json.dumps(served.directory()), "utf-8")
        full = _harness(capsys, "fleet", "--endpoints", str(endpoints), *FAST, "--report-dir", str(tmp_path / "fleet"),
                        "--history", str(named))
        limited = _harness(capsys, "fleet", "--endpoints", str(endpoints), *FAST, "--limit", "5", "--report-dir",
                           str(tmp_path / "fleet-limited"), "--history", str(named))
    assert full[0] == 0 and limited[0] == 0, full[1] + limited[1]
    assert f"history: fleet run 2 kept in {named}" in full[1]
    assert f"history: fleet run 3 kept in {named}" in limited[1]
    fleets = [json.loads((tmp_path / folder / "fleet.json").read_text("utf-8")) for folder in ("fleet", "fleet-limited")]
    assert len(fleets[1]["scope"]["not_run"]) == len(fleets[0]["tenants"]) - 5
    page = (tmp_path / "fleet-limited" / "fleet.html").read_text("utf-8")
    assert page.count('id="fleet-history"') == 1 and "Tenants per Epic release over time" in page

    code, listed = _harness(capsys, "history", "--history", str(named), "--json")
    assert code == 0, listed
    answer = json.loads(listed)
    assert answer["totals"] == {"tenant": 1, "fleet": 2}
    rows = {r["id"]: r for r in answer["runs"]}
    assert (rows[1]["kind"], rows[1]["tenant"], rows[1]["gate"], rows[1]["counts"]) == \
        ("tenant", "sandbox", "incomplete", summary["counts"])
    for run_id, fleet in zip((2, 3), fleets):
        assert (rows[run_id]["kind"], rows[run_id]["tenants"], rows[run_id]["answered"], rows[run_id]["ready"]) == \
            ("fleet", fleet["stats"]["tenants"], fleet["stats"]["answered"], fleet["stats"]["ready"])
    _, since = _harness(capsys, "history", "--history", str(named), "--since", fleets[0]["generated"][:10], "--json")
    kinds = {c["kind"] for c in json.loads(since)["changes"]}
    assert not kinds & {"tenant-removed", "tenant-added"}, kinds  # the limited run left those out, nothing more

    with History(named) as h, h.read() as conn:
        assert_summary_kept(stored_summary(conn, 1), summary)
        stored = fleet_runs_as_json(conn, [2, 3])
    for run_id, fleet in zip((2, 3), fleets):
        assert_fleet_kept(stored[run_id], fleet)
    _, again = _harness(capsys, "history", "--history", str(named), "--add", str(tmp_path / "fleet"), "--json")
    assert json.loads(again)["added"] == [{"run_id": 2, "kind": "fleet", "created": False,
                                           "history": str(named)}]  # the command's own record, kept once


def test_a_whole_run_reads_back_as_it_was_written(history_path):
    """summary.json of a whole run against the sandbox (the one cassettes/sandbox was recorded with): every API
    exercised, with its shape, and every check."""
    summary = json.loads((ROOT / "cassettes" / "sandbox" / "summary.json").read_text("utf-8"))
    assert len(summary["checks"]) > 1000 and sum(1 for a in summary["apis"] if a["shape"]) > 50
    recorded = record_run(summary, history=history_path)
    with History(history_path) as h, h.read() as conn:
        assert_summary_kept(stored_summary(conn, recorded.run_id), summary)


def test_a_real_fleet_run_reads_back_as_it_was_written(history_path, fleet_json):
    recorded = record_fleet(fleet_json, history=history_path)
    with History(history_path) as h, h.read() as conn:
        back = fleet_runs_as_json(conn, [recorded.run_id])[recorded.run_id]
    assert_fleet_kept(back, fleet_json)
    assert fleet_json["stats"]["answered"] > 40  # the sandbox fleet answered (loopback allowed)
