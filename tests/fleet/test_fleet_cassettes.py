"""``epic-harness fleet --mode record|replay``: one cassette per tenant, recorded through vcrpy's httpx
support, replayed with no network into the same fleet.json; what a cassette lacks is ``not-recorded``."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import httpx
import pytest
import yaml
from starlette.middleware.gzip import GZipMiddleware

from harness.fleet.cassettes import MATCH_ON, cassette_path
from harness.fleet.cli import add_fleet_parser
from harness.sandbox.fleet import EmbeddedFleet, build_fleet
from tests.fleet.fleet_helpers import FAST, QUICK_VARIATIONS, RUN_TIMING, SMALL, addresses, fleet, sample, untimed

#: one tenant of every variation (a hanging one too: its timeouts are recorded), the shared, unreachable and
#: malformed addresses
EVERY = sample(SMALL, (*QUICK_VARIATIONS, "hang"), shared=2)


def load(folder: Path) -> dict:
    return json.loads((folder / "fleet.json").read_text("utf-8"))


def same_run(a: dict, b: dict) -> None:
    assert len(a["tenants"]) == len(b["tenants"])
    for x, y in zip(a["tenants"], b["tenants"], strict=True):
        assert untimed(x) == untimed(y), x["key"]
    assert ({k: v for k, v in a["stats"].items() if k not in RUN_TIMING}
            == {k: v for k, v in b["stats"].items() if k not in RUN_TIMING})


LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def tape(cassettes: Path, report: dict, url: str) -> dict:
    """The cassette of the tenant at ``url``, as stored."""
    key = next(t["key"] for t in report["tenants"] if t["url"] == url)
    stored = yaml.load(cassette_path(cassettes, key).read_text("utf-8"), Loader=LOADER)
    assert stored["metadata"]["fleet"]["tenant"] == key and stored["metadata"]["fleet"]["url"] == url
    return stored


def refuse(*args, **kwargs):
    raise OSError("the network is off during replay")


def test_record_stop_the_fleet_replay_the_same_fleet_json(tmp_path, monkeypatch, capsys, shards_in_process):
    cassettes = tmp_path / "cassettes"
    served = EmbeddedFleet(EVERY)
    with served:
        spec = served.spec
        endpoints = served.write_directory(tmp_path / "endpoints.json")
        assert fleet("--endpoints", str(endpoints), "--report-dir", str(tmp_path / "rec"), "--mode", "record",
                     "--cassette-dir", str(cassettes), *FAST) == 0
        base = served.base_url
    assert not served.running
    assert "cassettes: recorded into" in capsys.readouterr().out

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert fleet("--endpoints", str(endpoints), "--report-dir", str(tmp_path / "rep"), "--mode", "replay",
                 "--cassette-dir", str(cassettes), *FAST) == 0
    assert "cassettes: replayed from" in capsys.readouterr().out
    recorded, replayed = load(tmp_path / "rec"), load(tmp_path / "rep")
    same_run(recorded, replayed)
    assert recorded["cassettes"] == {"mode": "record", "dir": str(cassettes)}
    assert replayed["cassettes"]["mode"] == "replay"
    assert not any("not-recorded" in json.dumps(t) for t in replayed["tenants"])

    # one cassette per fetched tenant (the malformed addresses are never fetched)
    fetched = [t for t in recorded["tenants"] if t["status"] != "malformed-address"]
    assert len(list(cassettes.rglob("*.yaml"))) == len(fetched) == addresses(EVERY)[2]

    flaky = f"{base}{spec.of_variation('flaky')[0].base_path}"
    flaky_tape = tape(cassettes, recorded, flaky)
    statuses = [i["response"]["status"]["code"] for i in flaky_tape["interactions"]
                if i["request"]["uri"].endswith("/metadata")]
    assert statuses == [503, 200]  # the retry is recorded, and replays in order
    for interaction in flaky_tape["interactions"]:
        headers = interaction["response"]["headers"]
        assert all(name == name.lower() for name in headers)
        assert "date" not in headers and "server" not in headers  # the Scrubber's volatile headers
        assert interaction["request"]["uri"].startswith(flaky + "/")
    hang = f"{base}{spec.of_variation('hang')[0].base_path}"
    hang_tape = tape(cassettes, recorded, hang)
    assert hang_tape["interactions"] == []
    assert sorted((f["attempt"], f["outcome"]) for f in hang_tape["metadata"]["fleet"]["failures"]) == [
        (1, "timeout"), (1, "timeout"), (2, "timeout"), (2, "timeout")]
    tls = next(t for t in replayed["tenants"] if "/t/tls-" in t["key"])
    assert tls["metadata"]["outcome"] == "tls" and "WRONG_VERSION_NUMBER" in tls["metadata"]["detail"]

    # the same cassettes replay across workers, split however the workers split the tenants
    assert fleet("--endpoints", str(endpoints), "--report-dir", str(tmp_path / "rep2"), "--mode", "replay",
                 "--cassette-dir", str(cassettes), "--workers", "2", *FAST) == 0
    by_workers = load(tmp_path / "rep2")
    same_run(recorded, by_workers)
    assert [s["tenants"] for s in by_workers["distribution"]["shards"]] == [(len(fetched) + 1) // 2, len(fetched) // 2]


def test_what_the_cassettes_lack_is_not_recorded_never_a_crash(at_once_fleet, tmp_path, capsys):
    cassettes = tmp_path / "cassettes"
    endpoints = at_once_fleet.write_directory(tmp_path / "endpoints.json")
    assert fleet("--endpoints", str(endpoints), "--report-dir", str(tmp_path / "rec"), "--mode", "record",
                 "--cassette-dir", str(cassettes), "--limit", "8", *FAST) == 0
    recorded = load(tmp_path / "rec")
    at, first = next((i, t) for i, t in enumerate(recorded["tenants"]) if t["status"] == "ok")
    stored = cassette_path(cassettes, first["key"])
    cassette = yaml.load(stored.read_text("utf-8"), Loader=LOADER)
    cassette["interactions"] = [i for i in cassette["interactions"] if "smart-configuration" not in i["request"]["uri"]]
    stored.write_text(yaml.safe_dump(cassette), "utf-8")
    capsys.readouterr()

    assert fleet("--endpoints", str(endpoints), "--report-dir", str(tmp_path / "rep"), "--mode", "replay",
                 "--cassette-dir", str(cassettes), *FAST) == 0
    replayed = load(tmp_path / "rep")
    tenants = replayed["tenants"]
    assert [untimed(t) for i, t in enumerate(tenants[:8]) if i != at] == [
        untimed(t) for i, t in enumerate(recorded["tenants"]) if i != at]
    assert tenants[at]["status"] == "partial" and tenants[at]["metadata"]["outcome"] == "ok"
    smart = tenants[at]["smart_configuration"]
    assert smart["outcome"] == "not-recorded" and smart["attempts"] == 1
    assert smart["detail"] == (f"replay: the cassette {stored} holds no answer for this request; "
                               f"record the fleet again with --mode record")
    unrecorded = [t for t in tenants[8:] if t["status"] != "malformed-address" and ".invalid" not in t["url"]]
    assert unrecorded and all(t["status"] == "failed" and t["failure"] == "not-recorded" for t in unrecorded)
    assert all("no cassette for this tenant" in t["metadata"]["detail"] for t in unrecorded)
    assert replayed["stats"]["metadata"]["not-recorded"] == len(unrecorded)
    out = capsys.readouterr().out
    assert f"cassettes: replayed from {cassettes}; tenants not recorded: {len(unrecorded) + 1}" in out
    assert "Traceback" not in out


def test_replay_without_cassettes_is_a_usage_error(tmp_path, capsys):
    listing = tmp_path / "bases.txt"
    listing.write_text("https://epic.example.org/api/FHIR/R4\n", "utf-8")
    assert fleet("--endpoints", str(listing), "--report-dir", str(tmp_path / "r"), "--mode", "replay",
                 "--cassette-dir", str(tmp_path / "none")) == 2
    assert capsys.readouterr().err.strip() == (f"epic-harness fleet: {tmp_path / 'none'}: no fleet cassettes here; "
                                               f"record them first with --mode record")


def test_gzip_bodies_are_stored_as_text_and_replay(tmp_path):
    spec = build_fleet(seed=3, size=60)
    served = EmbeddedFleet(spec)
    served.app = GZipMiddleware(served.fleet, minimum_size=100)  # as Epic answers Accept-Encoding: gzip
    names = [t.name for t in spec.of_variation("current")[:2]] + [spec.of_variation("no-smart-config")[0].name]
    cassettes = tmp_path / "cassettes"
    with served:
        raw = httpx.get(f"{served.tenant_base(names[0])}/metadata", headers={"accept-encoding": "gzip"})
        assert raw.headers["content-encoding"] == "gzip"
        listing = tmp_path / "bases.txt"
        listing.write_text("".join(f"{served.tenant_base(n)}\n" for n in names), "utf-8")
        assert fleet("--endpoints", str(listing), "--report-dir", str(tmp_path / "rec"), "--mode", "record",
                     "--cassette-dir", str(cassettes), *FAST) == 0
    assert fleet("--endpoints", str(listing), "--report-dir", str(tmp_path / "rep"), "--mode", "replay",
                 "--cassette-dir", str(cassettes), *FAST) == 0
    recorded = load(tmp_path / "rec")
    same_run(recorded, load(tmp_path / "rep"))
    assert [t["status"] for t in recorded["tenants"]] == ["ok", "ok", "partial"]
    for path in cassettes.rglob("*.yaml"):
        text = path.read_text("utf-8")
        assert "!!binary" not in text and "content-encoding" not in text.lower()
    body = tape(cassettes, recorded, served.tenant_base(names[0]))["interactions"]
    metadata = next(i for i in body if i["request"]["uri"].endswith("/metadata"))
    assert json.loads(metadata["response"]["body"]["string"])["resourceType"] == "CapabilityStatement"


def test_one_path_on_two_servers_is_two_tenants_with_their_own_cassettes(tmp_path):
    assert {"scheme", "host", "port", "path", "query"} <= set(MATCH_ON)
    spec = build_fleet(seed=3, size=60)
    name = spec.of_variation("current")[0].name
    first, second = EmbeddedFleet(spec), EmbeddedFleet(spec.replace(name, release="May 2027", smart="404"))
    cassettes = tmp_path / "cassettes"
    with first, second:
        bases = [first.tenant_base(name), second.tenant_base(name)]
        listing = tmp_path / "bases.txt"
        listing.write_text("".join(f"{b}\n" for b in bases), "utf-8")
        assert fleet("--endpoints", str(listing), "--report-dir", str(tmp_path / "rec"), "--mode", "record",
                     "--cassette-dir", str(cassettes), *FAST) == 0
    assert fleet("--endpoints", str(listing), "--report-dir", str(tmp_path / "rep"), "--mode", "replay",
                 "--cassette-dir", str(cassettes), *FAST) == 0
    recorded, replayed = load(tmp_path / "rec"), load(tmp_path / "rep")
    same_run(recorded, replayed)
    one, two = replayed["tenants"]
    assert (one["software"]["version"], one["smart_configuration"]["outcome"]) == (spec.tenant(name).release, "ok")
    assert (two["software"]["version"], two["smart_configuration"]["outcome"]) == ("May 2027", "http-404")
    paths = {cassette_path(cassettes, t["key"]) for t in replayed["tenants"]}
    assert len(paths) == 2 and all(p.is_file() for p in paths)
    for base in bases:
        uris = [i["request"]["uri"] for i in tape(cassettes, replayed, base)["interactions"]]
        assert uris and all(u.startswith(base + "/") for u in uris)


def test_options_and_their_defaults(capsys):
    parser = argparse.ArgumentParser(prog="epic-harness")
    add_fleet_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["fleet", "--endpoints", "x.json"])
    assert (args.workers, args.mode, args.cassette_dir) == (1, "live", str(Path("cassettes") / "fleet"))
    for bad in (["--workers", "0"], ["--workers", "two"], ["--mode", "rewind"]):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(["fleet", "--endpoints", "x.json", *bad])
        assert exit_info.value.code == 2


def test_a_host_that_did_not_resolve_replays_as_dns_without_a_lookup(tmp_path, monkeypatch):
    from harness.catalog import load_named_set
    from harness.fleet.cassettes import FleetCassettes
    from harness.fleet.directory import distinct_targets, parse_text
    from harness.fleet.fetch import FetchOptions, Fetcher
    from harness.fleet.run import run_fleet

    directory = parse_text("https://gone.example.org/api/FHIR/R4\n", "list")
    targets = distinct_targets(directory)
    options = FetchOptions(per_host_rps=None, connect_timeout=1.0, read_timeout=1.0, retries=0)

    async def unresolved(self, host, port):
        return (), f"{host} does not resolve (no such name)"

    monkeypatch.setattr(Fetcher, "_lookup", unresolved)
    recorded = run_fleet(directory, targets, load_named_set("careforce-phoenix"), options,
                         cassettes=FleetCassettes("record", tmp_path)).as_dict()

    async def no_lookup(self, host, port):
        raise AssertionError("a replay looked a host up")

    monkeypatch.setattr(Fetcher, "_lookup", no_lookup)
    replayed = run_fleet(directory, targets, load_named_set("careforce-phoenix"), options,
                         cassettes=FleetCassettes("replay", tmp_path)).as_dict()
    assert untimed(replayed["tenants"]) == untimed(recorded["tenants"])
    metadata = replayed["tenants"][0]["metadata"]
    assert (metadata["outcome"], metadata["detail"]) == ("dns", "gone.example.org does not resolve (no such name)")
    stored = yaml.load(cassette_path(tmp_path, targets[0].key).read_text("utf-8"), Loader=LOADER)
    assert stored["metadata"]["fleet"]["lookups"] == {"gone.example.org": "gone.example.org does not resolve "
                                                                          "(no such name)"}
