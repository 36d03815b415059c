"""Bad input and honest results: a file that is not a directory, a run where nothing answered, a
replay with nothing to replay, --limit against a full baseline, a run the rate limit slows."""

from __future__ import annotations

import json
from pathlib import Path

from harness.fleet.baseline import compare
from harness.fleet.run import rate_limit_stats
from harness.sandbox.fleet import write_endpoint_directory
from tests.fleet.fleet_helpers import FAST, QUICK, addresses, fleet
from tests.fleet.local_servers import Server, json_reply

ROOT = Path(__file__).resolve().parents[2]
STATEMENT = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
             "software": {"name": "Epic", "version": "February 2026"}, "rest": []}


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def test_a_tenant_file_is_not_an_endpoint_directory(tmp_path, capsys):
    tenant = ROOT / "harness" / "sandbox" / "tenant" / "sandbox.toml"
    assert fleet("--endpoints", str(tenant), "--report-dir", str(tmp_path / "r")) == 2
    lines = sum(1 for line in tenant.read_text().splitlines() if line.strip() and not line.strip().startswith("#"))
    assert one_line(capsys.readouterr().err) == (
        f"epic-harness fleet: {tenant}: not an endpoint directory (a tenant file, none of its {lines} lines is a FHIR "
        "base address; line 3: 'name = \"sandbox\"'); give Epic's endpoint Bundle or one FHIR base URL a line")
    assert not (tmp_path / "r").exists()


def test_a_bundle_or_list_without_one_fhir_base_is_refused(tmp_path, capsys):
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "entry": [
        {"resource": {"resourceType": "Endpoint", "address": "https://epic.example.org/not-fhir"}},
        {"resource": {"resourceType": "Endpoint", "address": "mailto:someone@example.org"}}]}), "utf-8")
    assert fleet("--endpoints", str(bundle), "--report-dir", str(tmp_path / "r")) == 2
    assert "not an endpoint directory (none of its 2 entries is a FHIR base address; entry 0: " \
           "'https://epic.example.org/not-fhir')" in one_line(capsys.readouterr().err)
    listing = tmp_path / "list.json"
    listing.write_text(json.dumps([1, 2, {"name": "x"}]), "utf-8")
    assert fleet("--endpoints", str(listing), "--report-dir", str(tmp_path / "r")) == 2
    assert "none of its 3 entries is a FHIR base address" in one_line(capsys.readouterr().err)


def test_one_good_address_among_malformed_ones_is_a_directory(tmp_path, capsys):
    listing = tmp_path / "bases.txt"
    listing.write_text("not a url\nhttps://epic.example.invalid/api/FHIR/R4\n", "utf-8")
    assert fleet("--endpoints", str(listing), "--report-dir", str(tmp_path / "r")) == 1  # ran; nothing answered
    assert (tmp_path / "r" / "fleet.json").is_file()


def test_a_run_where_nothing_answered_is_an_error_and_still_reports(tmp_path, capsys):
    listing = tmp_path / "bases.txt"
    listing.write_text("https://a.example.invalid/api/FHIR/R4\nhttp://127.0.0.1:1/api/FHIR/R4\n", "utf-8")
    assert fleet("--endpoints", str(listing), "--report-dir", str(tmp_path / "r"), *FAST) == 1
    out, err = capsys.readouterr()
    assert one_line(err) == ("epic-harness fleet: no tenant answered: 2 fetched, none answered a document (metadata: "
                             "dns 1, connect 1); is the network reachable from here?")
    assert "answered: 0 " in out
    report = json.loads((tmp_path / "r" / "fleet.json").read_text("utf-8"))
    assert report["stats"]["answered"] == 0 and len(report["tenants"]) == 2


def test_replay_needs_cassettes_for_the_tenants_it_runs(tmp_path, capsys):
    endpoints = write_endpoint_directory(QUICK, "http://127.0.0.1:9", tmp_path / "endpoints.json")  # nothing fetched
    empty = tmp_path / "empty"
    empty.mkdir()
    assert fleet("--endpoints", str(endpoints), "--report-dir", str(tmp_path / "a"), "--mode", "replay",
                 "--cassette-dir", str(empty), *FAST) == 2
    assert one_line(capsys.readouterr().err) == (f"epic-harness fleet: {empty}: the folder holds no fleet cassette; "
                                                 "record them first with --mode record")
    other = tmp_path / "other"
    (other / "https_x.example.org").mkdir(parents=True)
    (other / "https_x.example.org" / "api_fhir_r4.00000000.yaml").write_text("interactions: []\n", "utf-8")
    assert fleet("--endpoints", str(endpoints), "--report-dir", str(tmp_path / "b"), "--mode", "replay",
                 "--cassette-dir", str(other), *FAST) == 2
    assert one_line(capsys.readouterr().err) == (
        f"epic-harness fleet: {other}: none of the {addresses(QUICK)[2]} tenants run has a cassette here (recorded "
        "from another endpoint file?); record them with --mode record")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_limit_compares_only_the_tenants_it_ran(at_once_fleet, tmp_path, capsys):
    endpoints = at_once_fleet.write_directory(tmp_path / "endpoints.json")
    _, distinct, _ = addresses(at_once_fleet.spec)
    full = tmp_path / "full"
    assert fleet("--endpoints", str(endpoints), "--report-dir", str(full), *FAST) == 0
    capsys.readouterr()
    part = tmp_path / "part"
    assert fleet("--endpoints", str(endpoints), "--report-dir", str(part), "--limit", "8", "--baseline",
                 str(full / "fleet.json"), *FAST) == 0
    out = capsys.readouterr().out
    assert f"limit: the first 8 of {distinct} distinct addresses" in out
    assert "changes since the baseline (8 tenants compared): none" in out
    limited = json.loads((part / "fleet.json").read_text("utf-8"))
    assert limited["changes"] == [] and limited["baseline"]["compared"] == 8
    assert limited["scope"]["run"] == 8 and len(limited["scope"]["not_run"]) == distinct - 8

    # the other way round: the full run against the limited one adds nothing either
    again = tmp_path / "again"
    assert fleet("--endpoints", str(endpoints), "--report-dir", str(again), "--baseline", str(part / "fleet.json"),
                 *FAST) == 0
    assert json.loads((again / "fleet.json").read_text("utf-8"))["changes"] == []


def test_a_tenant_gone_from_the_directory_is_still_reported_removed_under_limit():
    def tenant(key, answered=True):
        return {"key": key, "name": key, "answered": answered, "status": "ok", "metadata": {"outcome": "ok"},
                "smart_configuration": {"outcome": "ok"}}

    before = {"tenants": [tenant("a"), tenant("b"), tenant("gone")], "scope": {"not_run": []}}
    after = {"tenants": [tenant("a")], "scope": {"not_run": ["b", "new"]}}
    assert [(c.kind, c.key) for c in compare(before, after)] == [("tenant-removed", "gone")]
    before_limited = {"tenants": [tenant("a")], "scope": {"not_run": ["b"]}}
    after_full = {"tenants": [tenant("a"), tenant("b"), tenant("new")], "scope": {"not_run": []}}
    assert [(c.kind, c.key) for c in compare(before_limited, after_full)] == [("tenant-added", "new")]
    assert [(c.kind, c.key) for c in compare({"tenants": [tenant("a")]}, after_full)] == [
        ("tenant-added", "b"), ("tenant-added", "new")]  # a baseline without scope ran its whole directory


def test_a_run_slowed_by_the_per_host_limit_says_so(tmp_path, capsys):
    def route(path: str):
        return json_reply(STATEMENT if path.endswith("/metadata") else {"grant_types_supported": []})

    with Server({"/t/*": route}) as server:
        listing = tmp_path / "bases.txt"
        listing.write_text("".join(f"{server.origin()}/t/t{i}/api/FHIR/R4\n" for i in range(6)), "utf-8")
        quick = ("--timeout", "2", "--retries", "0", "--allow-loopback")
        assert fleet("--endpoints", str(listing), "--report-dir", str(tmp_path / "slow"), "--per-host-rps", "10",
                     *quick) == 0
        slow = capsys.readouterr().out
        assert fleet("--endpoints", str(listing), "--report-dir", str(tmp_path / "fast"), "--per-host-rps", "0",
                     *quick) == 0
        fast = capsys.readouterr().out
    line = next(line for line in slow.splitlines() if line.startswith("rate limit: "))
    assert line.startswith(f"rate limit: 12 requests to one host (127.0.0.1:{server.port}) at --per-host-rps 10 "
                           "take at least 1.1 s of the ")
    assert line.endswith(" s run; raise --per-host-rps (0: no limit) where the host allows it")
    limit = json.loads((tmp_path / "slow" / "fleet.json").read_text("utf-8"))["stats"]["rate_limit"]
    assert limit == {"per_host_rps": 10.0, "busiest_host": f"127.0.0.1:{server.port}", "busiest_host_requests": 12,
                     "floor_s": 1.1, "bound": True}
    assert "rate limit:" not in fast


def test_the_limit_is_named_only_when_it_set_the_pace():
    def tenants(host: str, count: int) -> list[dict]:
        return [{"url": f"https://{host}/t{i}/api/FHIR/R4", "metadata": {"attempts": 1},
                 "smart_configuration": {"attempts": 1}} for i in range(count)]

    busy = tenants("a.example.org", 6) + tenants("b.example.org", 2)
    assert rate_limit_stats(busy, 10, 1.3) == {"per_host_rps": 10, "busiest_host": "a.example.org:443",
                                               "busiest_host_requests": 12, "floor_s": 1.1, "bound": True}
    assert rate_limit_stats(busy, 10, 3.0)["bound"] is False  # the tenants, not the limit, took the time
    assert rate_limit_stats(busy, 20, 0.6)["bound"] is False  # under a second: not worth a word
    assert rate_limit_stats(busy, None, 1.3)["bound"] is False
