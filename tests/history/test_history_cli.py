"""``epic-harness history`` and ``epic-harness forecast`` as a user calls them: files recorded with --add,
tables and JSON, hostile tenant names printed as plain text, one message per usage error."""

from __future__ import annotations

import copy
import json

import pytest

from harness.cli import main
from harness.history.simulate import release_profile
from tests.history.history_helpers import tenant_runs


@pytest.fixture
def files(tmp_path, fleet_days):
    paths = []
    for i, day in enumerate(fleet_days, 1):
        folder = tmp_path / f"fleet-day-{i}"
        folder.mkdir()
        (folder / "fleet.json").write_text(json.dumps(day))
        paths.append(str(folder))
    for i, summary in enumerate(tenant_runs(), 1):
        path = tmp_path / f"summary-{i}.json"
        path.write_text(json.dumps(summary))
        paths.append(str(path))
    return paths


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_add_then_list_tenant_since_and_availability_as_json(tmp_path, files, capsys, fleet_days):
    db = str(tmp_path / "h.sqlite")
    add = [a for f in files for a in ("--add", f)]
    assert main(["history", "--history", db, *add, "--json"]) == 0
    added = _json(capsys)["added"]
    assert [a["kind"] for a in added] == ["fleet"] * 4 + ["tenant"] * 3 and all(a["created"] for a in added)
    assert main(["history", "--history", db, *add, "--json"]) == 0
    assert not any(a["created"] for a in _json(capsys)["added"])
    assert main(["history", "--history", db, "--json", "--limit", "3"]) == 0
    listed = _json(capsys)
    assert listed["totals"] == {"fleet": 4, "tenant": 3} and len(listed["runs"]) == 3
    assert main(["history", "--history", db, "--tenant", "acme-nonprod", "--json"]) == 0
    assert [r["gate"] for r in _json(capsys)["tenant"]["tenant_runs"]] == ["passed", "failed", "incomplete"]
    assert main(["history", "--history", db, "--since", fleet_days[1]["generated"][:10], "--json"]) == 0
    changes = _json(capsys)["changes"]
    assert changes and {c["kind"] for c in changes} & {"release-upgraded", "stopped-answering"}
    assert main(["history", "--history", db, "--availability", "--window", "400d", "--json"]) == 0
    rows = _json(capsys)["availability"]["tenants"]
    assert rows == sorted(rows, key=lambda r: (r["availability_pct"], r["both_pct"], -(r["metadata_median_s"] or 0),
                                               r["name"] or "", r["key"]))


def test_tables_at_a_terminal(tmp_path, files, capsys, fleet_json):
    db = str(tmp_path / "h.sqlite")
    assert main(["history", "--history", db, *[a for f in files for a in ("--add", f)]]) == 0
    capsys.readouterr()
    assert main(["history", "--history", db, "--tenant", "acme-nonprod"]) == 0
    out = capsys.readouterr().out
    assert "Runs of acme-nonprod (3)" in out and "gate passed -> failed" in out
    profile = release_profile(fleet_json)
    assert main(["history", "--history", db, "--since", "2026-01-01"]) == 0
    assert "release-upgraded" in capsys.readouterr().out
    tenant = next(t["key"] for t in fleet_json["tenants"] if t.get("release") and t["release"] != profile.release
                  and t.get("fhir_release") == "R4" and t["metadata"]["outcome"] == "ok")
    assert main(["forecast", "--history", db, "--tenant", tenant, "--to", profile.release]) == 0
    out = capsys.readouterr().out
    assert f"-> {profile.release}" in out and profile.dropped[:30] in out and "at risk" in out
    assert main(["forecast", "--history", db, "--tenant", tenant, "--to", profile.release, "--json"]) == 0
    assert _json(capsys)["differs"][0]["api"] == profile.dropped


def test_a_hostile_tenant_name_is_printed_as_text(tmp_path, capsys):
    summary = copy.deepcopy(tenant_runs()[0])
    summary["tenant"] = "[bold red]evil[/bold red]\x1b[2J\x1b]0;title\x07\u202eclinic"
    path = tmp_path / "s.json"
    path.write_text(json.dumps(summary))
    db = str(tmp_path / "h.sqlite")
    assert main(["history", "--history", db, "--add", str(path)]) == 0
    capsys.readouterr()
    assert main(["history", "--history", db]) == 0
    out = capsys.readouterr().out
    assert "[bold red]evil[/bold red]clinic" in out
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out


@pytest.mark.parametrize("argv, message", [
    (["history", "--since", "someday"], "epic-harness history: 'someday' is not a date"),
    (["history", "--tenant", "nobody"], "no tenant named 'nobody'"),
    (["history", "--availability", "--window", "a month"], "'a month' is not a window"),
    (["forecast", "--tenant", "acme-nonprod", "--to", "soon"], "--to 'soon' is not an Epic release"),
])
def test_each_usage_error_is_one_message(tmp_path, capsys, argv, message):
    db = tmp_path / "h.sqlite"
    path = tmp_path / "s.json"
    path.write_text(json.dumps(tenant_runs()[0]))
    assert main(["history", "--history", str(db), "--add", str(path)]) == 0
    capsys.readouterr()
    assert main([*argv, "--history", str(db)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_files_and_a_missing_history_are_one_message(tmp_path, capsys):
    (tmp_path / "notes.json").write_text('{"hello": 1}')
    (tmp_path / "broken.json").write_text("{")
    for argv, message in (
            (["history", "--history", str(tmp_path / "none.sqlite")], "no history there yet"),
            (["history", "--add", str(tmp_path / "notes.json")], "neither a summary.json nor a fleet.json"),
            (["history", "--add", str(tmp_path / "broken.json")], "not JSON"),
            (["history", "--add", str(tmp_path / "missing.json")], "no such file"),
            (["history", "--add", str(tmp_path)], "no summary.json or fleet.json in this folder"),
            (["history", "--history", "nosuch://x/y"], "no SQLAlchemy dialect")):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "none.sqlite").exists()


def test_the_history_option_of_a_recording_command(monkeypatch, tmp_path):
    import argparse

    from harness.history import add_history_option, history_target

    parser = argparse.ArgumentParser()
    add_history_option(parser)
    monkeypatch.delenv("EPIC_HARNESS_HISTORY")
    assert history_target(parser.parse_args([])) == "reports/history.sqlite"
    monkeypatch.setenv("EPIC_HARNESS_HISTORY", str(tmp_path / "env.sqlite"))
    assert history_target(parser.parse_args([])) == str(tmp_path / "env.sqlite")
    assert history_target(parser.parse_args(["--history", "postgresql://h/db"])) == "postgresql://h/db"
    assert history_target(parser.parse_args(["--no-history"])) is None
