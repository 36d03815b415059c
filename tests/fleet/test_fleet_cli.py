"""``epic-harness fleet``: exit 0 when the run completed, 2 for a usage error with one clear message."""

from __future__ import annotations

import argparse
import json

import pytest

from harness.fleet.cli import add_fleet_parser, command_fleet, interactive
from tests.fleet.fleet_helpers import FAST, addresses


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="epic-harness")
    add_fleet_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["fleet", *argv])


def fleet(*argv: str) -> int:
    args = parse(*argv)
    return args.handler(args)


def test_defaults():
    args = parse("--endpoints", "x.json")
    assert (args.apis, args.concurrency, args.per_host_rps, args.timeout, args.retries, args.limit,
            args.baseline, args.report_dir) == ("careforce-phoenix", 32, 10.0, 10.0, 2, None, None, None)
    assert (args.allow_loopback, args.max_body_mb) == (False, 4.0)  # loopback refused unless asked for
    assert args.handler is command_fleet


@pytest.mark.parametrize("argv", [[], ["--endpoints", "x", "--concurrency", "0"], ["--endpoints", "x", "--limit", "a"],
                                  ["--endpoints", "x", "--timeout", "-1"], ["--endpoints", "x", "--per-host-rps", "-2"],
                                  ["--endpoints", "x", "--max-body-mb", "0"], ["--endpoints", "x", "--max-body-mb", "a"]])
def test_bad_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(*argv)
    assert exit_info.value.code == 2


def test_missing_endpoints_file_exits_2_with_one_message(tmp_path, capsys):
    code = fleet("--endpoints", str(tmp_path / "nope.json"), "--report-dir", str(tmp_path / "out"))
    out, err = capsys.readouterr()
    assert code == 2
    assert err.strip() == f"epic-harness fleet: {tmp_path / 'nope.json'}: no such endpoint file"
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize("content, message", [
    ("{ not json", "not valid JSON"),
    ('{"resourceType": "Endpoint"}', "must be a FHIR Bundle"),
    ("", "lists no endpoints"),
])
def test_unreadable_endpoints_file_exits_2(tmp_path, capsys, content, message):
    path = tmp_path / "endpoints.json"
    path.write_text(content, "utf-8")
    assert fleet("--endpoints", str(path), "--report-dir", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_unknown_api_set_and_bad_baseline_exit_2(tmp_path, capsys):
    endpoints = tmp_path / "list.txt"
    endpoints.write_text("https://epic.example.invalid/api/FHIR/R4\n", "utf-8")
    assert fleet("--endpoints", str(endpoints), "--apis", "no-such-set", "--report-dir", str(tmp_path / "o")) == 2
    assert "no named API set 'no-such-set'" in capsys.readouterr().err
    baseline = tmp_path / "old.json"
    baseline.write_text('{"not": "a fleet"}', "utf-8")
    assert fleet("--endpoints", str(endpoints), "--baseline", str(baseline), "--report-dir", str(tmp_path / "o")) == 2
    assert "not a fleet.json" in capsys.readouterr().err


def test_run_over_a_sandbox_fleet_then_against_its_own_baseline(at_once_fleet, tmp_path, capsys):
    endpoints = at_once_fleet.write_directory(tmp_path / "endpoints.json")
    entries, distinct, _ = addresses(at_once_fleet.spec)
    assert entries > distinct  # shared addresses: several entries, one tenant
    first = tmp_path / "first"
    assert fleet("--endpoints", str(endpoints), "--report-dir", str(first), *FAST) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"fleet: {distinct} distinct addresses from {entries} directory entries; APIs careforce-phoenix"
    assert out[1].startswith("answered: ") and out[2].startswith("by release: ")
    assert any(line.startswith("backend-services ready: ") for line in out)
    assert any(line.startswith("full coverage: ") for line in out)
    assert out[-1].startswith(f"report: {first}")
    assert "\x1b[" not in "\n".join(out)  # plain lines in CI
    for name in ("fleet.json", "fleet.csv", "fleet.html"):
        assert (first / name).is_file()
    assert len(list((first / "allure-results").glob("*-result.json"))) == distinct

    second = tmp_path / "second"
    assert fleet("--endpoints", str(endpoints), "--report-dir", str(second), "--baseline",
                 str(first / "fleet.json"), *FAST) == 0
    out = capsys.readouterr().out
    assert f"changes since the baseline ({distinct} tenants compared): none" in out
    report = json.loads((second / "fleet.json").read_text("utf-8"))
    assert report["changes"] == [] and report["baseline"]["file"] == str(first / "fleet.json")
    assert json.loads((second / "fleet-changes.json").read_text("utf-8")) == {"counts": {}, "changes": []}
    assert "Changes since the baseline" in (second / "fleet.html").read_text("utf-8")

    upgraded = next(t for t in at_once_fleet.spec.tenants if t.variation == "current")
    at_once_fleet.load(at_once_fleet.spec.replace(upgraded.name, release="May 2027"))
    third = tmp_path / "third"
    assert fleet("--endpoints", str(endpoints), "--report-dir", str(third), "--baseline",
                 str(second / "fleet.json"), *FAST) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"changes since the baseline ({distinct} tenants compared): release-upgraded 1" in out
    assert f"  release-upgraded: {upgraded.organizations[0]}: {upgraded.release} -> May 2027" in out


def test_plain_url_list_and_limit(at_once_fleet, tmp_path, capsys):
    names = [t.name for t in at_once_fleet.spec.tenants[:5]]
    listing = tmp_path / "bases.txt"
    listing.write_text("".join(f"{at_once_fleet.tenant_base(n)}/  {n}\n" for n in names), "utf-8")
    assert fleet("--endpoints", str(listing), "--limit", "3", "--report-dir", str(tmp_path / "r"), *FAST) == 0
    report = json.loads((tmp_path / "r" / "fleet.json").read_text("utf-8"))
    assert [t["name"] for t in report["tenants"]] == names[:3]
    assert report["directory"]["format"] == "text"


def test_interactive_only_on_a_terminal_outside_ci(monkeypatch):
    class Tty:
        def isatty(self):
            return True

    assert interactive(Tty()) is False  # CI=true
    monkeypatch.delenv("CI")
    assert interactive(Tty()) is True
    assert interactive(open(__file__)) is False
